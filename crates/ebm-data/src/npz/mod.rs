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

mod header;

pub use header::NpyHeader;

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
pub(crate) mod testing;

#[cfg(test)]
mod tests;
