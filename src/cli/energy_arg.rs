//! [`EnergyArg`]: `--energy`, the network of an image experiment.

use super::CommonArgs;
use anyhow::{Context, Result};
use std::path::Path;

/// `--energy`: the energy network of an image experiment.
#[derive(
    clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum EnergyArg {
    /// An MLP on `concat(x, y)` (the paper's MNIST energy).
    Mlp,
    /// The paper's dSprites network: CNN features, then an MLP head on `concat(h, y)`.
    Cnn,
    /// JEM's label readout on the same CNN: an MLP to one logit per label value,
    /// `f(x, y) = ⟨logit(x), y⟩` (no paper experiment uses it).
    Logit,
}

impl EnergyArg {
    /// The run's energy: `flag` if given; else, on `--resume DIR`, the one recorded in
    /// `DIR/config.json` (`options.energy`; `paper` for runs from before the option); else
    /// `preset_default`. Announced on stderr; for [`EnergyArg::Logit`] on a fresh run without
    /// `--label-lr-scale`, `config.label_lr_scale` is reset to 1 (the readout has no input-side
    /// label weights for the multiplier to act on). Returns it with its [`label`](Self::label)
    /// relative to `paper`.
    pub fn choose(
        experiment: &str,
        flag: Option<Self>,
        c: &CommonArgs,
        config: &mut jem_train::TrainConfig,
        preset_default: Self,
        paper: Self,
    ) -> Result<(Self, String)> {
        let energy = match (flag, &c.resume) {
            (Some(e), _) => e,
            (None, None) => preset_default,
            (None, Some(dir)) => Self::recorded(dir)?.unwrap_or(paper),
        };
        if energy == EnergyArg::Logit && c.label_lr_scale.is_none() && c.resume.is_none() {
            config.label_lr_scale = 1.0;
        }
        let label = energy.label(paper);
        say!("{experiment}: energy: {label}");
        Ok((energy, label))
    }

    /// The energy recorded in a run directory's `config.json` (`None` for runs from before
    /// the option).
    fn recorded(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {} (pass --energy)", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON (pass --energy)", path.display()))?;
        match v.pointer("/options/energy") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(e) => serde_json::from_value(e.clone())
                .map(Some)
                .with_context(|| {
                    format!("unknown energy {e} in {} (pass --energy)", path.display())
                }),
        }
    }

    /// For logs and `metrics.json`: the architecture and whether it is `paper`'s.
    pub fn label(self, paper: Self) -> String {
        let what = match self {
            EnergyArg::Mlp => "mlp: MLP on concat(x, y)",
            EnergyArg::Cnn => "cnn: CNN features + MLP head on concat(h, y)",
            EnergyArg::Logit => "logit: CNN features + MLP to one logit per label value",
        };
        if self == paper {
            format!("{what} (the paper's)")
        } else {
            format!("{what} (not the paper's)")
        }
    }
}
