//! The one error type of the joint-EBM libraries.

use std::path::PathBuf;

/// Every fallible operation of the joint-EBM libraries returns this error.
///
/// Messages name the operation and the offending shape or value, so that a user can tell what
/// to fix without reading the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor had the wrong shape.
    #[error("{op}: {what} has shape {got:?}, expected {expected}")]
    Shape {
        /// The operation that checked the shape.
        op: &'static str,
        /// Which argument.
        what: &'static str,
        /// The shape that was expected, in words (`[B, 6]`, `same as x`, …).
        expected: String,
        /// The shape received.
        got: Vec<i64>,
    },
    /// A label tensor is not valid for its layout (not one-hot per group, not 0/1 bits, …).
    #[error("{op}: {what} is not valid for the label layout: {reason}")]
    InvalidLabels {
        /// The operation.
        op: &'static str,
        /// Which argument.
        what: &'static str,
        /// What is wrong, with the first offending row where known.
        reason: String,
    },
    /// A tensor holds NaN or infinite values where finite ones are required.
    #[error("{op}: {what} contains non-finite values (NaN or ±inf)")]
    NonFinite {
        /// The operation.
        op: &'static str,
        /// Which argument or quantity.
        what: &'static str,
    },
    /// A hyper-parameter or configuration value is impossible.
    #[error("invalid {param} = {value}: {reason}")]
    InvalidConfig {
        /// The parameter name, spelled as in the config structs.
        param: &'static str,
        /// The offending value.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// Enumeration of label configurations refused because there are too many.
    #[error("{op}: {count} label configurations exceed the enumeration limit of {limit}; raise the limit or use sample-based prediction")]
    TooManyConfigurations {
        /// The operation.
        op: &'static str,
        /// How many configurations enumeration would need.
        count: u128,
        /// The configured limit.
        limit: u64,
    },
    /// The requested device cannot be used.
    #[error("device: {0}")]
    Device(String),
    /// A file could not be read or written, or did not hold what was expected. Build it with
    /// [`Error::file`] or [`Error::io`]; match the operating-system cause with
    /// [`Error::io_kind`] (e.g. `NotFound`).
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong and what was expected.
        message: String,
        /// The operating-system error behind it, when there is one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// Training produced a non-finite loss, energy or parameter, or energies beyond the
    /// configured magnitude.
    #[error("training diverged at iteration {iteration}: {what} (the last good checkpoint is kept; lower the learning rate, add sampler steps or an L2 penalty on energies, or resume from the checkpoint with a new seed)")]
    Diverged {
        /// The iteration at which it was detected.
        iteration: usize,
        /// What went wrong, e.g. "mean f(x-, y-) is not finite".
        what: String,
    },
    /// Training was asked to stop (e.g. SIGINT or SIGTERM through `TrainOptions::stop`) and
    /// stopped cleanly between two iterations.
    #[error("interrupted after iteration {iteration}{}", match checkpoint { Some(p) => format!(" (checkpoint written to {})", p.display()), None => String::new() })]
    Interrupted {
        /// Iterations completed.
        iteration: usize,
        /// The checkpoint written on the way out, if a checkpoint folder was given.
        checkpoint: Option<PathBuf>,
    },
    /// A collective operation between ranks of a data-parallel run failed (see
    /// [`crate::Collective`]).
    #[error("distributed: {0}")]
    Distributed(String),
    /// An error reported by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result alias used throughout the joint-EBM libraries.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::InvalidConfig`].
    pub fn config(param: &'static str, value: impl ToString, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            param,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// [`Error::File`] without an operating-system cause (e.g. a file with the wrong content).
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            message: message.into(),
            source: None,
        }
    }

    /// [`Error::File`] caused by `source`: the message is `"{context}: {source}"`, and the
    /// source stays reachable through [`std::error::Error::source`] and [`Error::io_kind`].
    pub fn io(path: impl Into<PathBuf>, context: &str, source: std::io::Error) -> Self {
        Error::File {
            path: path.into(),
            message: format!("{context}: {source}"),
            source: Some(source),
        }
    }

    /// The kind of the operating-system error behind a [`Error::File`], if any.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            Error::File {
                source: Some(e), ..
            } => Some(e.kind()),
            _ => None,
        }
    }

    /// Shorthand for [`Error::Shape`].
    pub fn shape(
        op: &'static str,
        what: &'static str,
        expected: impl Into<String>,
        got: &[i64],
    ) -> Self {
        Error::Shape {
            op,
            what,
            expected: expected.into(),
            got: got.to_vec(),
        }
    }
}

/// Checks that a float hyper-parameter is finite and strictly positive.
pub fn check_positive(param: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::config(param, value, "must be finite and > 0"))
    }
}

/// Checks that a float hyper-parameter is finite and non-negative (0 typically means "off").
pub fn check_non_negative(param: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::config(param, value, "must be finite and ≥ 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_errors_keep_their_io_cause() {
        let e = Error::io(
            "/nowhere/x.bin",
            "cannot read",
            std::io::ErrorKind::NotFound.into(),
        );
        assert_eq!(e.io_kind(), Some(std::io::ErrorKind::NotFound));
        let src = std::error::Error::source(&e).expect("a source");
        assert!(src.downcast_ref::<std::io::Error>().is_some());
        assert!(e.to_string().starts_with("/nowhere/x.bin: cannot read: "));
        let plain = Error::file("/a", "wrong content");
        assert_eq!(plain.io_kind(), None);
        assert!(std::error::Error::source(&plain).is_none());
    }
}
