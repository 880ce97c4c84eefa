//! Which parts of the structured label are served as `y`.

use super::{FACTOR_GROUPS, MASK_BITS};
use ebm_core::{Error, Result, YLayout};
use std::str::FromStr;

/// Which parts of the structured label the data source serves as `y`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpriteLabels {
    /// The four factor groups and the 256 mask bits: `D = 41 + 256 = 297`.
    #[default]
    All,
    /// The four factor groups only (`D = 41`, 4 608 configurations).
    Factors,
    /// The 256 mask bits only.
    Mask,
}

impl SpriteLabels {
    /// The label layout of this variant.
    pub fn layout(self) -> YLayout {
        let groups = FACTOR_GROUPS.to_vec();
        match self {
            SpriteLabels::All => YLayout::new(groups, MASK_BITS),
            SpriteLabels::Factors => YLayout::categorical(groups),
            SpriteLabels::Mask => YLayout::binary(MASK_BITS),
        }
        .expect("constant layouts are valid")
    }

    /// Whether the factor groups are part of `y` (first, in [`FACTOR_GROUPS`] order).
    pub fn has_factors(self) -> bool {
        self != SpriteLabels::Mask
    }

    /// Whether the mask bits are part of `y` (last).
    pub fn has_mask(self) -> bool {
        self != SpriteLabels::Factors
    }
}

impl FromStr for SpriteLabels {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "all" => Ok(Self::All),
            "factors" => Ok(Self::Factors),
            "mask" => Ok(Self::Mask),
            _ => Err(Error::config(
                "labels",
                s,
                "expected `all`, `factors` or `mask`",
            )),
        }
    }
}
