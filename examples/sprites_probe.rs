//! What a trained structured-sprites model knows about each factor, without sampling: for each
//! run folder or checkpoint given, the accuracy of `argmax_k f` for each factor with every other
//! label at its true value, on 1 000 validation images
//! (`joint_ebm::structured::factor_accuracy_given_rest`). Separates learning from mixing when
//! sample-based prediction is poor.
//!
//! `cargo run --release --example sprites_probe -- runs/sprites [runs/other/checkpoints/ckpt-00000300 …]`
//! (models with all labels; the network is the one each checkpoint records).
use anyhow::{Context, Result};
use ebm_data::sprites::{SpritesConfig, StructuredSprites};
use jem_train::JointModel;
use joint_ebm::structured::{factor_accuracy_given_rest, EvalSet, Split, FACTOR_NAMES};
use joint_ebm::tch::Device;

fn main() -> Result<()> {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        !dirs.is_empty(),
        "give one or more run folders or checkpoints"
    );
    let mut data = StructuredSprites::generate(SpritesConfig::default())?;
    let set = EvalSet::of(&mut data, Split::Validation, 1000, Device::Cpu)?;
    for d in dirs {
        let m = JointModel::load_saved(std::path::Path::new(&d), Device::Cpu)
            .with_context(|| format!("cannot load {d}"))?;
        let acc = factor_accuracy_given_rest(m.energy(), &set.x, &set.y, &set.factors)?;
        let parts: Vec<String> = FACTOR_NAMES
            .iter()
            .zip(acc)
            .map(|(n, a)| format!("{n} {a:.3}"))
            .collect();
        println!("{d}: given the rest, by energy: {}", parts.join(", "));
    }
    Ok(())
}
