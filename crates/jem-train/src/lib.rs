//! # jem-train
//!
//! Training of joint energy-based models `p(x, y) ∝ exp(f_θ(x, y))` (`f` higher = more probable)
//! by persistent contrastive divergence with the joint MWG sampler (GWG on `y`, Langevin on
//! `x`): replay buffer, Adam with warm-up, EMA, partially observed labels (paper Eq. 8),
//! evaluation (energy- and sample-based accuracy, ECE), atomic checkpoints and exact resume.
//! Progress is reported through an [`Observer`]; nothing is printed.
#![warn(missing_docs)]

mod architecture;
mod buffer;
pub mod checkpoint;
mod conditional;
mod config;
pub mod health;
mod kernels;
mod mask_energy;
pub mod metrics;
mod model;
mod models;
mod negative;
mod optim;
mod overrides;
pub mod presets;
mod settings;
mod trainer;

pub use architecture::Architecture;
pub use buffer::{Draw, ReplayBuffer};
pub use conditional::{conditional_pseudo_log_likelihood, group_log_likelihood_from_gradient};
pub use config::{GenerationStart, NegativeLabels, RecoveryConfig, TrainConfig, YInitMode};
/// The one batch type of training, prediction and evaluation (re-exported from `ebm-core`).
pub use ebm_core::Batch;
pub use health::{Expectations, HealthReport, Threshold};
pub use kernels::{AnyContinuous, AnyDiscrete, XSampler, YSampler};
pub use mask_energy::{FactorHead, FactorMap, MapAxis, MaskCnnEnergy};
pub use metrics::EvalMetrics;
pub use model::JointModel;
pub use models::{
    torch_conv2d, torch_linear, Activation, CnnEnergy, LogitEnergy, MlpEnergy, LABEL_WEIGHT_NAME,
};
pub use negative::expected_log_density;
pub use optim::{ema_update, lr_decays, scheduled_lr, warmup_lr, Adam, AdamConfig};
pub use overrides::Overrides;
pub use trainer::{
    all_reduce_gradients, recovery_seed, IterationReport, Judge, Observer, RecoveryEvent, Silent,
    TrainOptions, TrainSummary, Trainer, GRADIENT_BUCKET_ELEMENTS,
};
