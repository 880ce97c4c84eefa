//! Atomic checkpoints: model, EMA, optimiser, buffer and run state (safetensors + JSON).
//!
//! Layout of a checkpoint directory `DIR`:
//! ```text
//! DIR/ckpt-00000500/{model,ema,optimizer,buffer,init}.safetensors, state.json
//! DIR/LATEST                         name of the newest complete checkpoint
//! ```
//! A checkpoint is written into a temporary folder, flushed to disk, then renamed into place,
//! and only then is `LATEST` replaced (write + rename). A crash at any point leaves the previous
//! checkpoint loadable. The `keep` newest checkpoints are kept (all with `keep = 0`; the
//! trainer passes `TrainConfig::keep_checkpoints`, 2 by default), and beside them the newest one
//! marked healthy (an empty file `HEALTHY` in its folder: the trainer writes it when the
//! energy gap of the interval before it was healthy, see `RecoveryConfig`), so that a run that
//! collapses late still has a state from before the collapse on disk.

use ebm_core::{Error, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// Name of the pointer file.
pub const LATEST: &str = "LATEST";
/// Name of the marker file of a checkpoint taken while training was healthy.
pub const HEALTHY: &str = "HEALTHY";

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::io(path, "checkpoint I/O", e)
}

fn sync_file(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err(path, e))
}

/// Writes a checkpoint for `iteration` into `dir` by calling `write(tmp_folder)` to fill a
/// temporary folder, then publishing it atomically, and removes all but the `keep` newest
/// (0: none removed) and the newest healthy one. Returns the final folder.
pub fn write_atomically(
    dir: &Path,
    iteration: usize,
    keep: usize,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let name = format!("ckpt-{iteration:08}");
    let tmp = dir.join(format!(".tmp-{name}-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    write(&tmp)?;
    for entry in fs::read_dir(&tmp).map_err(|e| io_err(&tmp, e))? {
        let p = entry.map_err(|e| io_err(&tmp, e))?.path();
        sync_file(&p)?;
    }
    let final_dir = dir.join(&name);
    if final_dir.exists() {
        fs::remove_dir_all(&final_dir).map_err(|e| io_err(&final_dir, e))?;
    }
    fs::rename(&tmp, &final_dir).map_err(|e| io_err(&final_dir, e))?;
    let pointer_tmp = dir.join(format!(".{LATEST}.tmp"));
    fs::write(&pointer_tmp, &name).map_err(|e| io_err(&pointer_tmp, e))?;
    sync_file(&pointer_tmp)?;
    fs::rename(&pointer_tmp, dir.join(LATEST)).map_err(|e| io_err(dir, e))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    if keep > 0 {
        prune(dir, keep)?;
    }
    Ok(final_dir)
}

/// Complete checkpoint folders in `dir`, newest first.
pub fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("ckpt-"))
                && p.join("state.json").is_file()
        })
        .collect();
    found.sort();
    found.reverse();
    Ok(found)
}

fn prune(dir: &Path, keep: usize) -> Result<()> {
    let healthy = newest_healthy(dir)?;
    for old in list(dir)?.into_iter().skip(keep) {
        if Some(&old) != healthy.as_ref() {
            fs::remove_dir_all(&old).map_err(|e| io_err(&old, e))?;
        }
    }
    Ok(())
}

/// The newest complete checkpoint in `dir` marked [`HEALTHY`], if any.
pub fn newest_healthy(dir: &Path) -> Result<Option<PathBuf>> {
    Ok(list(dir)?.into_iter().find(|p| p.join(HEALTHY).is_file()))
}

/// The checkpoint to resume from in `dir`: the one `LATEST` names if it is complete, else the
/// newest complete one. `dir` may also be a checkpoint folder itself, or a run folder whose
/// `checkpoints/` holds them.
pub fn resolve(dir: &Path) -> Result<PathBuf> {
    if dir.join("state.json").is_file() {
        return Ok(dir.to_path_buf());
    }
    let nested = dir.join("checkpoints");
    if nested.is_dir() && !dir.join(LATEST).exists() && list(dir).is_ok_and(|l| l.is_empty()) {
        return resolve(&nested);
    }
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            "no such checkpoint directory",
            std::io::ErrorKind::NotFound.into(),
        ));
    }
    if let Ok(name) = fs::read_to_string(dir.join(LATEST)) {
        let p = dir.join(name.trim());
        if p.join("state.json").is_file() {
            return Ok(p);
        }
    }
    list(dir)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::file(dir, "no complete checkpoint (ckpt-*/state.json) found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_publish_prune_and_crash_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for it in [1usize, 2, 3] {
            write_atomically(d, it, 2, |tmp| {
                fs::write(tmp.join("state.json"), format!("{{\"iteration\": {it}}}"))
                    .map_err(|e| io_err(tmp, e))
            })
            .unwrap();
        }
        assert_eq!(list(d).unwrap().len(), 2, "two newest kept");
        assert!(resolve(d).unwrap().ends_with("ckpt-00000003"));
        // a crash while writing checkpoint 4: the writer fails half-way
        let r = write_atomically(d, 4, 2, |tmp| {
            fs::write(tmp.join("model.safetensors"), b"partial").unwrap();
            Err(Error::file(tmp, "simulated crash"))
        });
        assert!(r.is_err());
        assert!(resolve(d).unwrap().ends_with("ckpt-00000003"));
        // a LATEST pointing at a missing folder falls back to the newest complete one
        fs::write(d.join(LATEST), "ckpt-00000009").unwrap();
        assert!(resolve(d).unwrap().ends_with("ckpt-00000003"));
        assert!(resolve(&d.join("nope")).is_err());
    }

    #[test]
    fn keep_zero_keeps_every_checkpoint_and_keep_one_only_the_newest() {
        for (keep, want) in [(0usize, 5usize), (1, 1), (3, 3)] {
            let dir = tempfile::tempdir().unwrap();
            for it in 1..=5usize {
                write_atomically(dir.path(), it, keep, |tmp| {
                    fs::write(tmp.join("state.json"), "{}").map_err(|e| io_err(tmp, e))
                })
                .unwrap();
            }
            let kept = list(dir.path()).unwrap();
            assert_eq!(kept.len(), want, "keep {keep}: {kept:?}");
            assert!(kept[0].ends_with("ckpt-00000005"));
        }
    }
}
