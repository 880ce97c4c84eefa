//! The IDX file format of MNIST and Fashion-MNIST (unsigned-byte arrays), raw or gzip'd.
//!
//! Layout: two zero bytes, a type code (`0x08` = unsigned byte, the only one MNIST uses), the
//! number of dimensions `d`, then `d` big-endian `u32` sizes, then the data in row-major order.
//! A file whose first two bytes are the gzip magic `1f 8b` is decompressed first, whatever its
//! name.

use crate::file_error;
use ebm_core::Result;
use flate2::read::MultiGzDecoder;
use std::io::{Read, Write};
use std::path::Path;

/// IDX type code of unsigned bytes.
pub const IDX_UBYTE: u8 = 0x08;

/// An unsigned-byte array read from an IDX file: sizes `dims` and row-major `data`
/// (`data.len()` = product of `dims`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The sizes, outermost first (e.g. `[N, 28, 28]` for images, `[N]` for labels).
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file (raw, or gzip detected by its magic bytes). Errors name `path` and say
/// what was expected: a missing file, a bad gzip stream, a bad magic number or type code, a
/// header cut short, or a data length that differs from the product of the dimensions.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|e| ebm_core::Error::io(path, "cannot read", e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut bytes = Vec::new();
        MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut bytes)
            .map_err(|e| {
                file_error(
                    path,
                    format!(
                        "corrupt or truncated gzip stream ({} compressed bytes): {e}",
                        raw.len()
                    ),
                )
            })?;
        parse_idx(&bytes, path)
    } else {
        parse_idx(&raw, path)
    }
}

/// Parses the (uncompressed) bytes of an IDX file; `path` is only used in error messages.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(file_error(
            path,
            format!(
                "IDX header cut short: {} bytes, expected at least 4",
                bytes.len()
            ),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(file_error(
            path,
            format!(
                "bad IDX magic number 0x{:02x}{:02x}{:02x}{:02x}: expected 0x0000TTDD (two zero bytes, type, dimensions; 0x00000803 for images, 0x00000801 for labels)",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != IDX_UBYTE {
        return Err(file_error(
            path,
            format!(
                "unsupported IDX type code 0x{:02x}: expected 0x08 (unsigned byte)",
                bytes[2]
            ),
        ));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err(file_error(path, "IDX header declares 0 dimensions"));
    }
    let header_len = 4 + 4 * ndim;
    if bytes.len() < header_len {
        return Err(file_error(
            path,
            format!(
                "IDX header cut short: {} bytes, expected {header_len} for {ndim} dimensions",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| file_error(path, format!("IDX dimensions {dims:?} overflow")))?;
    let got = bytes.len() - header_len;
    if got != expected {
        let what = if got < expected {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(file_error(
            path,
            format!("{what}: dimensions {dims:?} need {expected} data bytes after the {header_len}-byte header, found {got}"),
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header_len..].to_vec(),
    })
}

/// Writes `array` as an unsigned-byte IDX file, gzip-compressed when `gzip` (the reader detects
/// compression by content, so any file name works).
pub fn write_idx(path: &Path, array: &IdxArray, gzip: bool) -> Result<()> {
    let expected: usize = array.dims.iter().product();
    if array.data.len() != expected || array.dims.is_empty() || array.dims.len() > 255 {
        return Err(file_error(
            path,
            format!(
                "write_idx: {} data bytes for dimensions {:?} (need 1..=255 dimensions and their product)",
                array.data.len(),
                array.dims
            ),
        ));
    }
    let mut bytes = vec![0, 0, IDX_UBYTE, array.dims.len() as u8];
    for &d in &array.dims {
        let d = u32::try_from(d)
            .map_err(|_| file_error(path, format!("write_idx: dimension {d} exceeds u32")))?;
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(&array.data);
    let io = |e: std::io::Error| ebm_core::Error::io(path, "cannot write", e);
    if gzip {
        let file = std::fs::File::create(path).map_err(io)?;
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        enc.write_all(&bytes).map_err(io)?;
        enc.finish().map_err(io)?;
        Ok(())
    } else {
        std::fs::write(path, bytes).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_reports_not_found() {
        let e = read_idx(Path::new("/no/such/dir/train-images-idx3-ubyte")).unwrap_err();
        assert_eq!(e.io_kind(), Some(std::io::ErrorKind::NotFound), "{e}");
    }

    fn message(e: ebm_core::Error) -> String {
        match e {
            ebm_core::Error::File { message, .. } => message,
            other => panic!("expected a file error, got {other}"),
        }
    }

    #[test]
    fn reads_raw_and_gzip_idx() {
        let dir = tempfile::tempdir().unwrap();
        let a = IdxArray {
            dims: vec![3, 2, 4],
            data: (0..24).map(|i| i as u8 * 10).collect(),
        };
        for gz in [false, true] {
            let p = dir.path().join(format!("a{gz}"));
            write_idx(&p, &a, gz).unwrap();
            let raw = std::fs::read(&p).unwrap();
            assert_eq!(raw.starts_with(&[0x1f, 0x8b]), gz);
            assert_eq!(read_idx(&p).unwrap(), a);
        }
        // Exact header bytes of an MNIST-style label file.
        let p = dir.path().join("labels");
        let labels = IdxArray {
            dims: vec![2],
            data: vec![7, 1],
        };
        write_idx(&p, &labels, false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), [0, 0, 8, 1, 0, 0, 0, 2, 7, 1]);
    }

    #[test]
    fn corrupt_idx_files_are_clear_errors() {
        let p = Path::new("x-idx3-ubyte");
        let good = [0u8, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6];
        assert_eq!(parse_idx(&good, p).unwrap().dims, [2, 3]);
        let mut bad_magic = good;
        bad_magic[0] = 0x12;
        assert!(message(parse_idx(&bad_magic, p).unwrap_err()).contains("bad IDX magic"));
        let mut bad_type = good;
        bad_type[2] = 0x0d;
        assert!(message(parse_idx(&bad_type, p).unwrap_err()).contains("expected 0x08"));
        let m = message(parse_idx(&good[..15], p).unwrap_err());
        assert!(
            m.contains("truncated") && m.contains("need 6") && m.contains("found 3"),
            "{m}"
        );
        let m = message(parse_idx(&good[..6], p).unwrap_err());
        assert!(m.contains("header cut short"), "{m}");
        let mut long = good.to_vec();
        long.push(9);
        assert!(message(parse_idx(&long, p).unwrap_err()).contains("trailing bytes"));
        // Missing file and corrupt gzip stream, through the file reader.
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = read_idx(&missing).unwrap_err();
        assert!(e.to_string().contains("nope") && e.to_string().contains("cannot read"));
        let gz = dir.path().join("a.gz");
        write_idx(
            &gz,
            &IdxArray {
                dims: vec![1000],
                data: (0..1000).map(|i| (i * 7 % 251) as u8).collect(),
            },
            true,
        )
        .unwrap();
        let bytes = std::fs::read(&gz).unwrap();
        std::fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
        let m = message(read_idx(&gz).unwrap_err());
        assert!(m.contains("gzip"), "{m}");
    }
}
