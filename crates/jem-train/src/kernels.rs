//! The sampler kernels a training run uses, chosen by name in the configuration
//! ([`YSampler`], [`XSampler`]) and dispatched without boxing ([`AnyDiscrete`],
//! [`AnyContinuous`]), so that the trainer, its evaluation and its test-time chains run any
//! supported pair through the same generic [`mwg::JointSampler`].

use crate::config::TrainConfig;
use ebm_core::{
    ContinuousKernel, DiscreteKernel, Error, JointEnergy, JointState, Result, StepInfo,
};
use samplers_cont::{Langevin, Mala};
use samplers_disc::{Dmala, ExactGibbs, Gwg};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The kernel on the labels `y`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum YSampler {
    /// Gibbs-with-Gradients ([`samplers_disc::Gwg`], settings `TrainConfig::gwg`): the paper's
    /// kernel; one head evaluation per step.
    #[default]
    Gwg,
    /// Exact random-scan Gibbs ([`samplers_disc::ExactGibbs`]): the full conditional of one
    /// variable per step, `K` head evaluations per step (`K` = its number of values).
    Gibbs,
    /// Discrete Langevin with Metropolis–Hastings correction ([`samplers_disc::Dmala`],
    /// settings `TrainConfig::dmala`): every label variable may change per step; one head
    /// evaluation per step.
    Dmala,
}

/// The kernel on the continuous block `x`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XSampler {
    /// Unadjusted Langevin ([`samplers_cont::Langevin`], settings `TrainConfig::langevin`): the
    /// paper's kernel (low temperature with its λ ≪ 1, not exact).
    #[default]
    Langevin,
    /// Metropolis-adjusted Langevin ([`samplers_cont::Mala`], settings `TrainConfig::mala`):
    /// exact at temperature 1; one extra backward pass per step for CNN energies.
    Mala,
}

fn parse_error(what: &str, got: &str, expected: &str) -> Error {
    Error::config(
        "sampler",
        got,
        format!("unknown {what}; expected {expected}"),
    )
}

impl FromStr for YSampler {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "gwg" => Ok(Self::Gwg),
            "gibbs" => Ok(Self::Gibbs),
            "dmala" => Ok(Self::Dmala),
            _ => Err(parse_error("y sampler", s, "`gwg`, `gibbs` or `dmala`")),
        }
    }
}

impl FromStr for XSampler {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "langevin" => Ok(Self::Langevin),
            "mala" => Ok(Self::Mala),
            _ => Err(parse_error("x sampler", s, "`langevin` or `mala`")),
        }
    }
}

/// A discrete kernel chosen at run time (see [`YSampler`]).
#[derive(Clone, Debug)]
pub enum AnyDiscrete {
    /// Gibbs-with-Gradients.
    Gwg(Gwg),
    /// Exact Gibbs.
    Gibbs(ExactGibbs),
    /// DMALA (or DULA).
    Dmala(Dmala),
}

/// A continuous kernel chosen at run time (see [`XSampler`]).
#[derive(Clone, Debug)]
pub enum AnyContinuous {
    /// Unadjusted Langevin.
    Langevin(Langevin),
    /// MALA.
    Mala(Mala),
}

impl AnyDiscrete {
    /// The kernel `config.y_sampler` names, with its settings from `config`.
    pub fn from_config(config: &TrainConfig) -> Result<Self> {
        Ok(match config.y_sampler {
            YSampler::Gwg => Self::Gwg(Gwg::new(config.gwg.clone())?),
            YSampler::Gibbs => Self::Gibbs(ExactGibbs),
            YSampler::Dmala => Self::Dmala(Dmala::new(config.dmala.clone())?),
        })
    }
}

impl AnyContinuous {
    /// The kernel `config.x_sampler` names, with its settings from `config`.
    pub fn from_config(config: &TrainConfig) -> Result<Self> {
        Ok(match config.x_sampler {
            XSampler::Langevin => Self::Langevin(Langevin::new(config.langevin.clone())?),
            XSampler::Mala => Self::Mala(Mala::new(config.mala.clone())?),
        })
    }
}

impl DiscreteKernel for AnyDiscrete {
    fn step<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        state: JointState,
    ) -> Result<(JointState, StepInfo)> {
        match self {
            Self::Gwg(k) => k.step(energy, state),
            Self::Gibbs(k) => k.step(energy, state),
            Self::Dmala(k) => k.step(energy, state),
        }
    }
    fn is_exact(&self) -> bool {
        match self {
            Self::Gwg(k) => k.is_exact(),
            Self::Gibbs(k) => k.is_exact(),
            Self::Dmala(k) => k.is_exact(),
        }
    }
    fn draws_single_free_variable_exactly(&self) -> bool {
        match self {
            Self::Gwg(k) => k.draws_single_free_variable_exactly(),
            Self::Gibbs(k) => k.draws_single_free_variable_exactly(),
            Self::Dmala(k) => k.draws_single_free_variable_exactly(),
        }
    }
    fn name(&self) -> &'static str {
        match self {
            Self::Gwg(k) => k.name(),
            Self::Gibbs(k) => k.name(),
            Self::Dmala(k) => k.name(),
        }
    }
}

impl ContinuousKernel for AnyContinuous {
    fn step<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        state: JointState,
    ) -> Result<(JointState, StepInfo)> {
        match self {
            Self::Langevin(k) => k.step(energy, state),
            Self::Mala(k) => k.step(energy, state),
        }
    }
    fn is_exact(&self) -> bool {
        match self {
            Self::Langevin(k) => k.is_exact(),
            Self::Mala(k) => k.is_exact(),
        }
    }
    fn name(&self) -> &'static str {
        match self {
            Self::Langevin(k) => k.name(),
            Self::Mala(k) => k.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_select_the_kernels() {
        let mut c = TrainConfig::default();
        assert_eq!(AnyDiscrete::from_config(&c).unwrap().name(), "gwg");
        assert_eq!(AnyContinuous::from_config(&c).unwrap().name(), "langevin");
        c.y_sampler = "gibbs".parse().unwrap();
        c.x_sampler = "mala".parse().unwrap();
        assert_eq!(AnyDiscrete::from_config(&c).unwrap().name(), "gibbs");
        let x = AnyContinuous::from_config(&c).unwrap();
        assert_eq!(x.name(), "mala");
        assert!(x.is_exact());
        assert!("hmc".parse::<XSampler>().is_err());
        c.y_sampler = "dmala".parse().unwrap();
        assert_eq!(AnyDiscrete::from_config(&c).unwrap().name(), "dmala");
        assert!("dula".parse::<YSampler>().is_err());
    }
}
