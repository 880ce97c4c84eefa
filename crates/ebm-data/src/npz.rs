//! NumPy `.npz` archives (zip files of `.npy` arrays), reading only the entries asked for.
//!
//! `tch`'s `read_npz` loads every entry and fails on pickled object arrays such as the
//! `metadata` of the original dSprites file; this reader opens single entries, parses their
//! `.npy` header (magic `\x93NUMPY`, version 1–3, a Python-literal dict with `descr`,
//! `fortran_order`, `shape`) and streams the data, so a 3 GB `imgs` array can be consumed
//! image by image.

use crate::file_error;
use ebm_core::Result;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

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

/// An open `.npz` archive.
pub struct Npz {
    path: PathBuf,
    archive: zip::ZipArchive<BufReader<File>>,
}

impl std::fmt::Debug for Npz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Npz")
            .field("path", &self.path)
            .field("entries", &self.entry_names())
            .finish()
    }
}

impl Npz {
    /// Opens the archive; a missing file or one that is not a readable zip (e.g. truncated,
    /// which loses the central directory) is an error naming `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| ebm_core::Error::io(path, "cannot open", e))?;
        let archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
            file_error(
                path,
                format!("not a readable .npz (zip) archive — truncated or corrupt? ({e})"),
            )
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            archive,
        })
    }

    /// The archive's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of the archive's entries (`imgs.npy`, …).
    pub fn entry_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.archive.file_names().map(str::to_string).collect();
        v.sort();
        v
    }

    /// Opens array `name` (`imgs` or `imgs.npy`) and reads its header. Errors: no such entry
    /// (listing those present), a bad header, Fortran order, or an entry whose size does not
    /// match the header's shape and type.
    pub fn array(&mut self, name: &str) -> Result<NpyEntry<'_>> {
        let names = self.entry_names();
        let entry = [name.to_string(), format!("{name}.npy")]
            .into_iter()
            .find(|n| names.contains(n))
            .ok_or_else(|| {
                file_error(
                    &self.path,
                    format!(
                        "no array `{name}` in the archive (entries: {})",
                        names.join(", ")
                    ),
                )
            })?;
        let path = self.path.clone();
        let err = |m: String| file_error(&path, format!("entry `{entry}`: {m}"));
        let mut file = self
            .archive
            .by_name(&entry)
            .map_err(|e| err(format!("cannot open: {e}")))?;
        let size = file.size();
        let (header, header_len) = NpyHeader::read(&mut file).map_err(&err)?;
        if header.fortran_order && header.shape.len() > 1 {
            return Err(err(
                "Fortran-order arrays are not supported: expected C order".into(),
            ));
        }
        let data_len = header
            .num_elements()
            .zip(header.element_size())
            .and_then(|(n, s)| n.checked_mul(s))
            .ok_or_else(|| {
                err(format!(
                    "cannot size dtype {:?} with shape {:?}",
                    header.descr, header.shape
                ))
            })?;
        let expected = (header_len + data_len) as u64;
        if size != expected {
            return Err(err(format!(
                "{}: shape {:?} of {:?} needs {data_len} data bytes after the {header_len}-byte header ({expected} in all), the entry has {size}",
                if size < expected { "truncated" } else { "trailing bytes" },
                header.shape,
                header.descr
            )));
        }
        Ok(NpyEntry {
            header,
            file,
            path,
            name: entry,
            read: 0,
            data_len,
        })
    }

    /// Reads a whole `uint8` array (`|u1`): its shape and row-major values.
    pub fn read_u8(&mut self, name: &str) -> Result<(Vec<usize>, Vec<u8>)> {
        let mut a = self.array(name)?;
        a.expect_dtype(&["|u1", "<u1", ">u1", "=u1", "u1"], "uint8")?;
        let mut data = vec![0u8; a.data_len];
        a.read_exact(&mut data)?;
        Ok((a.header.shape.clone(), data))
    }

    /// Reads a whole `int64` array (`<i8` or `>i8`): its shape and row-major values.
    pub fn read_i64(&mut self, name: &str) -> Result<(Vec<usize>, Vec<i64>)> {
        let mut a = self.array(name)?;
        a.expect_dtype(&["<i8", ">i8", "=i8", "i8"], "int64")?;
        let big = a.header.descr.starts_with('>');
        let mut bytes = vec![0u8; a.data_len];
        a.read_exact(&mut bytes)?;
        let data = bytes
            .chunks_exact(8)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
                if big {
                    i64::from_be_bytes(b)
                } else {
                    i64::from_le_bytes(b)
                }
            })
            .collect();
        Ok((a.header.shape.clone(), data))
    }
}

/// One array of an [`Npz`], positioned at its data: read it in pieces with
/// [`NpyEntry::read_exact`].
pub struct NpyEntry<'a> {
    header: NpyHeader,
    file: zip::read::ZipFile<'a>,
    path: PathBuf,
    name: String,
    read: usize,
    data_len: usize,
}

impl std::fmt::Debug for NpyEntry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpyEntry")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("header", &self.header)
            .field("read", &self.read)
            .finish()
    }
}

impl NpyEntry<'_> {
    /// The array's header.
    pub fn header(&self) -> &NpyHeader {
        &self.header
    }

    /// Total data bytes (elements × element size).
    pub fn data_len(&self) -> usize {
        self.data_len
    }

    /// Checks the type string against `accepted`; the error names `what` was expected.
    pub fn expect_dtype(&self, accepted: &[&str], what: &str) -> Result<()> {
        if accepted.contains(&self.header.descr.as_str()) {
            Ok(())
        } else {
            Err(file_error(
                &self.path,
                format!(
                    "entry `{}`: dtype {:?}, expected {what} ({})",
                    self.name,
                    self.header.descr,
                    accepted.join(" or ")
                ),
            ))
        }
    }

    /// Fills `buf` with the next data bytes; a stream that ends early or fails its checksum is
    /// an error with the byte counts.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.file.read_exact(buf).map_err(|e| {
            file_error(
                &self.path,
                format!(
                    "entry `{}`: data unreadable after {} of {} bytes (truncated or corrupt): {e}",
                    self.name, self.read, self.data_len
                ),
            )
        })?;
        self.read += buf.len();
        Ok(())
    }
}

/// Test helpers: `.npy` bytes and small `.npz` files.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::Write;
    use std::path::Path;

    /// A version-1.0 `.npy` file: header padded with spaces to a multiple of 64, then `data`.
    pub(crate) fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
        let shape_str = match shape {
            [n] => format!("({n},)"),
            s => format!(
                "({})",
                s.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut dict =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_str}, }}");
        while (10 + dict.len() + 1) % 64 != 0 {
            dict.push(' ');
        }
        dict.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.extend_from_slice(data);
        out
    }

    /// A pickled-object `.npy` (`|O`) like the dSprites `metadata` entry.
    pub(crate) fn pickled_npy() -> Vec<u8> {
        // protocol-2 pickle of {'description': 'junk'}
        let pickle = b"\x80\x02}q\x00X\x0b\x00\x00\x00descriptionq\x01X\x04\x00\x00\x00junkq\x02s.";
        npy_bytes("|O", &[], pickle)
    }

    /// Writes a deflate-compressed zip with the given entries.
    pub(crate) fn write_npz(path: &Path, entries: &[(&str, Vec<u8>)]) {
        let file = std::fs::File::create(path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let opts =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            zip.start_file(*name, opts).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn header_dicts_parse() {
        let h = NpyHeader::parse_dict(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (737280, 6), }   \n",
        )
        .unwrap();
        assert_eq!(h.descr, "<i8");
        assert!(!h.fortran_order);
        assert_eq!(h.shape, [737_280, 6]);
        assert_eq!(h.element_size(), Some(8));
        let h = NpyHeader::parse_dict("{'descr': '|O', 'fortran_order': False, 'shape': (), }")
            .unwrap();
        assert_eq!(h.shape, Vec::<usize>::new());
        assert_eq!(h.element_size(), None);
        let h = NpyHeader::parse_dict("{'descr': '|u1', 'fortran_order': True, 'shape': (5,), }")
            .unwrap();
        assert_eq!(
            (h.shape.as_slice(), h.fortran_order),
            ([5usize].as_slice(), true)
        );
        assert!(NpyHeader::parse_dict("{'descr': '|u1', 'shape': (5,), }").is_err());
        assert!(NpyHeader::parse_dict(
            "{'descr': '|u1', 'fortran_order': False, 'shape': (5, x), }"
        )
        .is_err());
    }

    #[test]
    fn reads_entries_and_reports_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npz");
        let ints: Vec<u8> = [3i64, -1, 7, 1 << 40]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        write_npz(
            &p,
            &[
                ("metadata.npy", pickled_npy()),
                ("bytes.npy", npy_bytes("|u1", &[2, 3], &[1, 2, 3, 4, 5, 6])),
                ("ints.npy", npy_bytes("<i8", &[2, 2], &ints)),
                ("short.npy", npy_bytes("|u1", &[2, 3], &[1, 2, 3, 4])),
            ],
        );
        let mut z = Npz::open(&p).unwrap();
        assert_eq!(z.entry_names().len(), 4);
        assert_eq!(
            z.read_u8("bytes").unwrap(),
            (vec![2, 3], vec![1, 2, 3, 4, 5, 6])
        );
        assert_eq!(
            z.read_i64("ints.npy").unwrap(),
            (vec![2, 2], vec![3, -1, 7, 1 << 40])
        );
        let msg = |e: ebm_core::Error| e.to_string();
        let m = msg(z.read_u8("ints").unwrap_err());
        assert!(
            m.contains("dtype \"<i8\"") && m.contains("expected uint8"),
            "{m}"
        );
        let m = msg(z.read_u8("absent").unwrap_err());
        assert!(
            m.contains("no array `absent`") && m.contains("bytes.npy"),
            "{m}"
        );
        let m = msg(z.read_u8("short").unwrap_err());
        assert!(
            m.contains("truncated") && m.contains("needs 6 data bytes"),
            "{m}"
        );
        // The pickled entry is never parsed as data: asking for it gives a clean error.
        assert!(z.read_u8("metadata").is_err());
        // Truncated archive and missing file.
        let bytes = std::fs::read(&p).unwrap();
        let cut = dir.path().join("cut.npz");
        std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
        let m = msg(Npz::open(&cut).unwrap_err());
        assert!(
            m.contains("cut.npz") && m.contains("truncated or corrupt"),
            "{m}"
        );
        assert!(msg(Npz::open(&dir.path().join("none.npz")).unwrap_err()).contains("cannot open"));
    }
}
