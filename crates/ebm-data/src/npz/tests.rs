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
    let h =
        NpyHeader::parse_dict("{'descr': '|O', 'fortran_order': False, 'shape': (), }").unwrap();
    assert_eq!(h.shape, Vec::<usize>::new());
    assert_eq!(h.element_size(), None);
    let h =
        NpyHeader::parse_dict("{'descr': '|u1', 'fortran_order': True, 'shape': (5,), }").unwrap();
    assert_eq!(
        (h.shape.as_slice(), h.fortran_order),
        ([5usize].as_slice(), true)
    );
    assert!(NpyHeader::parse_dict("{'descr': '|u1', 'shape': (5,), }").is_err());
    assert!(
        NpyHeader::parse_dict("{'descr': '|u1', 'fortran_order': False, 'shape': (5, x), }")
            .is_err()
    );
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
