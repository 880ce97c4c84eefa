//! Held-out factor combinations (the zero-shot split): a shape in a quadrant.

use super::SHAPES;
use crate::dsprites::NUM_POSITIONS;
use ebm_core::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// A quadrant of the position grid (x to the right, y downwards; each half is 16 of the 32
/// position classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quadrant {
    /// `posX < 16`, `posY < 16`.
    UpperLeft,
    /// `posX ≥ 16`, `posY < 16`.
    UpperRight,
    /// `posX < 16`, `posY ≥ 16`.
    LowerLeft,
    /// `posX ≥ 16`, `posY ≥ 16`.
    LowerRight,
}

impl Quadrant {
    const NAMES: [(&'static str, Quadrant); 4] = [
        ("upper-left", Quadrant::UpperLeft),
        ("upper-right", Quadrant::UpperRight),
        ("lower-left", Quadrant::LowerLeft),
        ("lower-right", Quadrant::LowerRight),
    ];

    /// Whether position classes `(pos_x, pos_y)` (each `0..32`) lie in this quadrant.
    pub fn contains(self, pos_x: i64, pos_y: i64) -> bool {
        let half = NUM_POSITIONS / 2;
        let (left, up) = (pos_x < half, pos_y < half);
        match self {
            Quadrant::UpperLeft => left && up,
            Quadrant::UpperRight => !left && up,
            Quadrant::LowerLeft => left && !up,
            Quadrant::LowerRight => !left && !up,
        }
    }
}

/// A held-out factor combination: one shape in one quadrant. Written `shape:quadrant`, e.g.
/// `heart:upper-left`; shapes `square`, `ellipse`, `heart`; quadrants `upper-left`,
/// `upper-right`, `lower-left`, `lower-right`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holdout {
    /// Shape class (0 square, 1 ellipse, 2 heart).
    pub shape: i64,
    /// Where that shape is held out.
    pub quadrant: Quadrant,
}

impl Holdout {
    /// The default: hearts in the upper-left quadrant (a quarter of the hearts, 12 288 images).
    pub const DEFAULT: Holdout = Holdout {
        shape: 2,
        quadrant: Quadrant::UpperLeft,
    };

    /// Whether latents `[color, shape, scale, orientation, posX, posY]` are held out.
    pub fn contains(&self, latents: &[i64; 6]) -> bool {
        latents[1] == self.shape && self.quadrant.contains(latents[4], latents[5])
    }

    /// Parses a comma-separated list of `shape:quadrant`, or `none` for the empty list.
    pub fn parse_list(s: &str) -> Result<Vec<Holdout>> {
        if s.trim() == "none" {
            return Ok(Vec::new());
        }
        s.split(',').map(|p| p.trim().parse()).collect()
    }
}

impl FromStr for Holdout {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::config(
                "holdout",
                s,
                "expected `shape:quadrant` (shape: square, ellipse or heart; quadrant: \
                 upper-left, upper-right, lower-left or lower-right), a comma-separated list of \
                 them, or `none`",
            )
        };
        let (shape, quadrant) = s.split_once(':').ok_or_else(bad)?;
        let shape = SHAPES
            .iter()
            .position(|&n| n == shape.trim())
            .ok_or_else(bad)? as i64;
        let quadrant = Quadrant::NAMES
            .iter()
            .find(|(n, _)| *n == quadrant.trim())
            .ok_or_else(bad)?
            .1;
        Ok(Holdout { shape, quadrant })
    }
}

impl fmt::Display for Holdout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = Quadrant::NAMES
            .iter()
            .find(|(_, q)| *q == self.quadrant)
            .map_or("?", |(n, _)| n);
        write!(f, "{}:{q}", SHAPES[self.shape as usize])
    }
}
