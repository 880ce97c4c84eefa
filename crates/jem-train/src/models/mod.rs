//! Energy architectures of the paper, with their y-independent feature stages exposed.

mod cnn;
mod init;
mod logit;
mod mlp;
mod trunk;

pub use cnn::CnnEnergy;
pub use init::{torch_conv2d, torch_linear};
pub use logit::LogitEnergy;
pub use mlp::{Activation, MlpEnergy, LABEL_WEIGHT_NAME};

#[cfg(test)]
mod tests;
