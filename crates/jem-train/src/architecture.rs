//! [`Architecture`]: a built-in network named in each checkpoint, so that a saved model loads
//! without the caller naming its network ([`JointModel::load_saved`](crate::JointModel::load_saved)).

use crate::mask_energy::{FactorHead, FactorMap};
use crate::presets;
use ebm_core::{JointEnergy, Result, YLayout};
use serde::{Deserialize, Serialize};
use tch::nn;

/// The built-in networks, with what their constructors need. A run records its architecture
/// with [`Trainer::set_architecture`](crate::Trainer::set_architecture); it is written into
/// every checkpoint's `state.json`. A network of your own is not listed here: load it with
/// [`JointModel::load`](crate::JointModel::load) and its builder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "network", rename_all = "snake_case")]
pub enum Architecture {
    /// [`presets::toy::energy`]: the paper's toy MLP.
    ToyMlp,
    /// [`presets::mnist::energy`]: the paper's MNIST MLP on `concat(x, y)`.
    MnistMlp,
    /// [`presets::mnist::cnn_energy`]: the dSprites CNN on MNIST.
    MnistCnn,
    /// [`presets::mnist::logit_energy`]: JEM's label readout on the CNN.
    MnistLogit,
    /// [`presets::dsprites::energy`]: the paper's dSprites CNN.
    DspritesCnn,
    /// [`presets::dsprites::logit_energy`]: JEM's label readout on the CNN.
    DspritesLogit,
    /// [`presets::sprites::energy`]: the structured sprites' mask CNN with this label layout
    /// (all labels, factors only or mask only) and factor head.
    SpritesMaskCnn {
        /// The label layout.
        layout: YLayout,
        /// How the factors enter the network.
        head: FactorHead,
        /// The factor groups also drawn as image channels (none in runs written before
        /// they existed).
        #[serde(default)]
        maps: Vec<FactorMap>,
    },
}

impl Architecture {
    /// Builds the network under `p` (fresh parameters; load a checkpoint's into its store).
    pub fn build(&self, p: &nn::Path) -> Result<Box<dyn JointEnergy>> {
        Ok(match self {
            Self::ToyMlp => Box::new(presets::toy::energy(p)),
            Self::MnistMlp => Box::new(presets::mnist::energy(p)),
            Self::MnistCnn => Box::new(presets::mnist::cnn_energy(p)),
            Self::MnistLogit => Box::new(presets::mnist::logit_energy(p)),
            Self::DspritesCnn => Box::new(presets::dsprites::energy(p)),
            Self::DspritesLogit => Box::new(presets::dsprites::logit_energy(p)),
            Self::SpritesMaskCnn { layout, head, maps } => {
                Box::new(presets::sprites::energy(p, layout.clone(), *head, maps)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::VarStore;
    use tch::Device;

    /// Every architecture builds and round-trips through JSON.
    #[test]
    fn architectures_build_and_serialise() {
        for a in [
            Architecture::ToyMlp,
            Architecture::MnistMlp,
            Architecture::MnistCnn,
            Architecture::MnistLogit,
            Architecture::DspritesCnn,
            Architecture::DspritesLogit,
            Architecture::SpritesMaskCnn {
                layout: presets::sprites::layout(),
                head: FactorHead::Readout,
                maps: Vec::new(),
            },
            Architecture::SpritesMaskCnn {
                layout: presets::sprites::layout(),
                head: FactorHead::Concat,
                maps: presets::sprites::position_maps(&presets::sprites::layout()),
            },
        ] {
            let vs = VarStore::new(Device::Cpu);
            a.build(&vs.root()).unwrap();
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(
                serde_json::from_str::<Architecture>(&json).unwrap(),
                a,
                "{json}"
            );
        }
        // A run written before factor maps existed loads as one without them.
        let old =
            r#"{"network":"sprites_mask_cnn","layout":{"groups":[3],"bits":0},"head":"readout"}"#;
        match serde_json::from_str::<Architecture>(old) {
            Ok(Architecture::SpritesMaskCnn { maps, .. }) => assert!(maps.is_empty()),
            other => panic!("{other:?}"),
        }
    }
}
