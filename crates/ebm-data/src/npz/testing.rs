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
