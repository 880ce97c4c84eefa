//! The header of a `.npy` array: magic, version and the Python-literal dict.

use std::io::Read;

/// The header of one `.npy` array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// NumPy type string, e.g. `|u1`, `<i8`.
    pub descr: String,
    /// Whether the data are stored column-major (only C order is supported for reading).
    pub fortran_order: bool,
    /// Array shape (`[]` for a scalar).
    pub shape: Vec<usize>,
}

impl NpyHeader {
    /// Number of elements (product of the shape), `None` on overflow.
    pub fn num_elements(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }

    /// Size of one element in bytes from the type string's trailing digits (`<i8` → 8).
    pub fn element_size(&self) -> Option<usize> {
        let digits: String = self
            .descr
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        digits.parse().ok()
    }

    /// Reads and parses the header at the start of a `.npy` stream, leaving `reader` at the
    /// first data byte. Returns the header and its total length in bytes.
    pub fn read(reader: &mut impl Read) -> std::result::Result<(Self, usize), String> {
        let mut pre = [0u8; 8];
        reader.read_exact(&mut pre).map_err(|e| {
            format!("npy header cut short ({e}): expected 8 bytes of magic and version")
        })?;
        if &pre[..6] != b"\x93NUMPY" {
            return Err(format!(
                "bad npy magic {:?}: expected \\x93NUMPY",
                String::from_utf8_lossy(&pre[..6])
            ));
        }
        let (len, prefix) = match pre[6] {
            1 => {
                let mut b = [0u8; 2];
                reader
                    .read_exact(&mut b)
                    .map_err(|e| format!("npy header length cut short: {e}"))?;
                (u16::from_le_bytes(b) as usize, 10)
            }
            2 | 3 => {
                let mut b = [0u8; 4];
                reader
                    .read_exact(&mut b)
                    .map_err(|e| format!("npy header length cut short: {e}"))?;
                (u32::from_le_bytes(b) as usize, 12)
            }
            v => {
                return Err(format!(
                    "unsupported npy format version {v}.{}: expected 1, 2 or 3",
                    pre[7]
                ))
            }
        };
        if len > 1 << 20 {
            return Err(format!("npy header of {len} bytes is implausibly long"));
        }
        let mut text = vec![0u8; len];
        reader
            .read_exact(&mut text)
            .map_err(|e| format!("npy header cut short ({e}): expected {len} bytes"))?;
        let text = String::from_utf8(text).map_err(|_| "npy header is not UTF-8".to_string())?;
        Ok((Self::parse_dict(&text)?, prefix + len))
    }

    /// Parses the header dict, e.g. `{'descr': '<i8', 'fortran_order': False, 'shape': (3, 6), }`.
    pub fn parse_dict(text: &str) -> std::result::Result<Self, String> {
        let value_after = |key: &str| -> std::result::Result<&str, String> {
            let at = text
                .find(&format!("'{key}'"))
                .or_else(|| text.find(&format!("\"{key}\"")))
                .ok_or_else(|| format!("npy header {text:?} has no '{key}'"))?;
            let rest = &text[at + key.len() + 2..];
            let colon = rest
                .find(':')
                .ok_or_else(|| format!("npy header {text:?}: no ':' after '{key}'"))?;
            Ok(rest[colon + 1..].trim_start())
        };
        let d = value_after("descr")?;
        let quote = d
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')
            .ok_or_else(|| format!("npy header {text:?}: 'descr' is not a string"))?;
        let end = d[1..]
            .find(quote)
            .ok_or_else(|| format!("npy header {text:?}: unterminated 'descr'"))?;
        let descr = d[1..1 + end].to_string();
        let f = value_after("fortran_order")?;
        let fortran_order = if f.starts_with("True") {
            true
        } else if f.starts_with("False") {
            false
        } else {
            return Err(format!(
                "npy header {text:?}: 'fortran_order' is not True/False"
            ));
        };
        let s = value_after("shape")?;
        let close = s
            .strip_prefix('(')
            .and_then(|s| s.find(')').map(|i| &s[..i]))
            .ok_or_else(|| format!("npy header {text:?}: 'shape' is not a tuple"))?;
        let shape = close
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.trim_end_matches('L')
                    .parse::<usize>()
                    .map_err(|_| format!("npy header {text:?}: bad shape entry {t:?}"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Self {
            descr,
            fortran_order,
            shape,
        })
    }
}
