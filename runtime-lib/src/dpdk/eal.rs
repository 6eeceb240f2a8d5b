//! The EAL command line: what the user wrote after `--dpdk`, and what the host adds.
//!
//! Unless the arguments choose how EAL shares memory (`--in-memory`, `--file-prefix`,
//! `--proc-type`, `--no-shconf`), the host adds `--no-shconf` with `--no-huge` (whose static
//! memory layout `--in-memory` refuses) and `--in-memory` otherwise, so concurrent runs
//! never share EAL's files in `/var/run/dpdk`; and, unless they choose lcores (`-l`, `-c`, `--lcores`), one lcore that
//! floats over every CPU the process may run on (`--lcores=0@(CPUS)`), so runs started in
//! parallel are not all pinned to CPU 0.
//!
//! EAL creates its runtime directory (`/var/run/dpdk/PREFIX` for root) even when it puts
//! nothing there but its telemetry socket (which it unlinks only at exit); [`RuntimeDirs`]
//! removes what this process created, once EAL is done and again at exit.
//!
//! net_pcap writes its `tx_pcap` files itself; [`EalArgs::stage_pcap_outputs`] points it at
//! hidden temporaries beside them, which [`PcapOutputs::commit`] renames into place only
//! once the run succeeded (the host's all-or-nothing rule for every file it writes).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

/// Why the EAL arguments are refused before EAL sees them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// Nothing after `--dpdk`.
    #[error("--dpdk needs EAL arguments, e.g. \"--no-huge --no-pci --vdev=net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap\"")]
    Empty,
    /// A word with a NUL byte cannot be passed to C.
    #[error("EAL argument {0:?} contains a NUL byte")]
    Nul(String),
}

/// The argument vector handed to `rte_eal_init`, program name first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EalArgs {
    /// Every word, `nfcc` first.
    pub words: Vec<String>,
    /// Words the host added (also in `words`), for messages.
    pub added: Vec<String>,
}

impl EalArgs {
    /// Splits `text` at whitespace (no quoting: EAL arguments never need spaces) and adds
    /// the host's defaults. `cpus` are the CPUs the process may run on.
    pub fn parse(text: &str, cpus: &[usize]) -> Result<EalArgs, ArgsError> {
        let given: Vec<String> = text.split_whitespace().map(String::from).collect();
        if given.is_empty() {
            return Err(ArgsError::Empty);
        }
        if let Some(w) = given.iter().find(|w| w.contains('\0')) {
            return Err(ArgsError::Nul(w.clone()));
        }
        let has = |names: &[&str]| {
            given.iter().any(|w| names.iter().any(|n| w == n || w.starts_with(&format!("{n}=")) || (n.len() == 2 && w.starts_with(n))))
        };
        let mut added = Vec::new();
        if !has(&["--in-memory", "--file-prefix", "--proc-type", "--no-shconf"]) {
            // `--no-huge` selects EAL's static (legacy) memory layout, which `--in-memory`
            // refuses; `--no-shconf` is what it allows to keep EAL's files out of the way.
            added.push(if has(&["--no-huge"]) { "--no-shconf" } else { "--in-memory" }.to_string());
        }
        if !has(&["-l", "-c", "--lcores"]) && !cpus.is_empty() {
            let list: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
            added.push(format!("--lcores=0@({})", list.join(",")));
        }
        let mut words = vec!["nfcc".to_string()];
        words.extend(given);
        words.extend(added.iter().cloned());
        Ok(EalArgs { words, added })
    }

    /// How many network virtual devices (`--vdev=net_...`) the arguments ask for.
    pub fn net_vdevs(&self) -> usize {
        let mut n = 0;
        let mut words = self.words.iter();
        while let Some(w) = words.next() {
            let dev = match w.strip_prefix("--vdev") {
                Some("") => words.next().map(String::as_str),
                Some(rest) => rest.strip_prefix('='),
                None => None,
            };
            n += dev.is_some_and(|d| d.starts_with("net_")) as usize;
        }
        n
    }

    /// The `--file-prefix` EAL runs with (`rte` unless the arguments give one; the last wins).
    pub fn file_prefix(&self) -> &str {
        let mut prefix = "rte";
        let mut words = self.words.iter();
        while let Some(w) = words.next() {
            match w.strip_prefix("--file-prefix") {
                Some("") => prefix = words.next().map_or(prefix, String::as_str),
                Some(rest) => prefix = rest.strip_prefix('=').unwrap_or(prefix),
                None => {}
            }
        }
        prefix
    }

    /// Points every net_pcap `tx_pcap=PATH` at a hidden temporary in PATH's directory (a PATH
    /// that exists and is not a regular file, such as a FIFO, is left as it is). Fails,
    /// naming the file, when a temporary cannot be made there.
    pub fn stage_pcap_outputs(&mut self) -> Result<PcapOutputs, (PathBuf, std::io::Error)> {
        let mut files = Vec::new();
        let mut i = 1;
        while i < self.words.len() {
            let at = match self.words[i].strip_prefix("--vdev") {
                Some("") => i + 1,
                Some(rest) if rest.starts_with('=') => i,
                _ => {
                    i += 1;
                    continue;
                }
            };
            let Some(word) = self.words.get(at) else { break };
            let (head, spec) = match word.strip_prefix("--vdev=") {
                Some(spec) => ("--vdev=", spec),
                None => ("", word.as_str()),
            };
            if spec.starts_with("net_pcap") {
                let mut parts: Vec<String> = spec.split(',').map(String::from).collect();
                for part in parts.iter_mut() {
                    let Some(path) = part.strip_prefix("tx_pcap=").filter(|p| !p.is_empty()).map(PathBuf::from) else { continue };
                    if std::fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
                        continue;
                    }
                    let dir = match path.parent() {
                        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                        _ => PathBuf::from("."),
                    };
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let tmp = tempfile::Builder::new()
                        .prefix(&format!(".{name}."))
                        .tempfile_in(&dir)
                        .map_err(|e| (path.clone(), e))?
                        .into_temp_path();
                    *part = format!("tx_pcap={}", tmp.display());
                    files.push((path, tmp));
                }
                self.words[at] = format!("{head}{}", parts.join(","));
            }
            i = at + 1;
        }
        Ok(PcapOutputs { files })
    }

    /// The user's words and the host's, as one line for messages (no program name).
    pub fn line(&self) -> String {
        self.words[1..].join(" ")
    }
}

/// The CPUs this process may run on (its affinity mask).
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } == 0;
    if !ok {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect()
}

/// net_pcap's output files while a run writes them: (destination, hidden temporary). Dropped
/// without [`PcapOutputs::commit`], the temporaries are removed.
#[derive(Debug)]
pub struct PcapOutputs {
    files: Vec<(PathBuf, tempfile::TempPath)>,
}

impl PcapOutputs {
    /// Renames every temporary onto its destination (readable by all, as the pcap host's
    /// outputs), once the driver has closed it. Fails naming the first file that cannot be
    /// put in place; the others are removed.
    pub fn commit(self) -> Result<(), (PathBuf, std::io::Error)> {
        use std::os::unix::fs::PermissionsExt;
        for (path, tmp) in self.files {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).map_err(|e| (path.clone(), e))?;
            tmp.persist(&path).map_err(|e| (path.clone(), e.error))?;
        }
        Ok(())
    }
}

/// The runtime directory EAL (22.11) makes for `prefix`: `$RUNTIME_DIRECTORY`, else
/// `/var/run` for root, else `$XDG_RUNTIME_DIR` or `/tmp`; then `dpdk/PREFIX`.
pub fn runtime_dir(prefix: &str) -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    // SAFETY: getuid cannot fail.
    let root = unsafe { libc::getuid() } == 0;
    let base = env("RUNTIME_DIRECTORY").unwrap_or_else(|| if root { "/var/run".into() } else { env("XDG_RUNTIME_DIR").unwrap_or_else(|| "/tmp".into()) });
    base.join("dpdk").join(prefix)
}

/// The directories EAL will create for this process (its runtime directory and the `dpdk`
/// one above it) that do not exist yet; [`RuntimeDirs::remove`] takes them away again
/// once EAL is done, if they are empty (a directory another process filled stays). EAL's
/// telemetry unlinks its socket in the directory from an `atexit` handler, so the removal
/// is tried again at exit, by a handler registered before EAL's (handlers run last
/// registered first).
#[derive(Debug)]
pub struct RuntimeDirs {
    /// Deepest first.
    created: Vec<PathBuf>,
}

/// What [`RuntimeDirs`] removes at exit.
static AT_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn remove_at_exit() {
    if let Ok(dirs) = AT_EXIT.try_lock() {
        for d in dirs.iter() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

impl RuntimeDirs {
    /// Notes which of `dir` and its parent are missing, before EAL starts.
    pub fn before_init(dir: &Path) -> RuntimeDirs {
        let mut created = Vec::new();
        for d in [Some(dir), dir.parent()].into_iter().flatten() {
            if std::fs::symlink_metadata(d).is_err() {
                created.push(d.to_path_buf());
            }
        }
        if !created.is_empty() {
            static REGISTER: Once = Once::new();
            // SAFETY: registering a handler that only removes empty directories.
            REGISTER.call_once(|| unsafe {
                libc::atexit(remove_at_exit);
            });
            if let Ok(mut v) = AT_EXIT.lock() {
                v.extend(created.iter().cloned());
            }
        }
        RuntimeDirs { created }
    }

    /// Removes the noted directories that are now empty (`rmdir` refuses any other).
    pub fn remove(&self) {
        for d in &self.created {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_adds_private_memory_and_one_floating_lcore() {
        let a = EalArgs::parse("  --no-huge --no-pci\t--vdev=net_null0 ", &[0, 1]).unwrap();
        assert_eq!(a.words, ["nfcc", "--no-huge", "--no-pci", "--vdev=net_null0", "--no-shconf", "--lcores=0@(0,1)"]);
        assert_eq!(a.added, ["--no-shconf", "--lcores=0@(0,1)"]);
        assert_eq!(a.line(), "--no-huge --no-pci --vdev=net_null0 --no-shconf --lcores=0@(0,1)");
        let a = EalArgs::parse("-a 0000:01:00.0", &[2]).unwrap();
        assert_eq!(a.added, ["--in-memory", "--lcores=0@(2)"]);
    }

    #[test]
    fn the_users_choices_win() {
        for (text, added) in [
            ("--file-prefix=t1 -l 1", vec![]),
            ("--file-prefix t1 -l1", vec![]),
            ("--proc-type=primary -c 0x1", vec![]),
            ("--in-memory --lcores=1@0", vec![]),
            ("--no-huge --no-shconf -l 0", vec![]),
            ("--no-huge -l 0", vec!["--no-shconf".to_string()]),
            ("-l 0", vec!["--in-memory".to_string()]),
            ("--no-huge --file-prefix=x", vec!["--lcores=0@(3)".to_string()]),
        ] {
            let a = EalArgs::parse(text, &[3]).unwrap();
            assert_eq!(a.added, added, "{text}");
        }
        // A longer option that merely starts like a short one is not mistaken for it.
        assert_eq!(EalArgs::parse("--log-level=8", &[0]).unwrap().added.len(), 2);
    }

    #[test]
    fn network_vdevs_are_counted_in_both_spellings() {
        let a = EalArgs::parse("--vdev=net_pcap0,rx_pcap=a --vdev net_ring0 --vdev=crypto_null0 --vdevx=net_null0", &[0]).unwrap();
        assert_eq!(a.net_vdevs(), 2);
    }

    #[test]
    fn empty_or_nul_arguments_are_refused() {
        assert_eq!(EalArgs::parse(" \t", &[0]), Err(ArgsError::Empty));
        assert!(matches!(EalArgs::parse("--no-huge a\0b", &[0]), Err(ArgsError::Nul(_))));
    }

    #[test]
    fn the_file_prefix_is_the_last_given_or_rte() {
        assert_eq!(EalArgs::parse("--no-huge", &[0]).unwrap().file_prefix(), "rte");
        assert_eq!(EalArgs::parse("--file-prefix=a --file-prefix b", &[0]).unwrap().file_prefix(), "b");
        assert_eq!(EalArgs::parse("--file-prefix=x1", &[0]).unwrap().file_prefix(), "x1");
    }

    #[test]
    fn only_directories_found_missing_and_left_empty_are_removed() {
        let base = tempfile::tempdir().unwrap();
        let parent = base.path().join("dpdk");
        let dir = parent.join("rte");
        let dirs = RuntimeDirs::before_init(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dirs.remove();
        assert!(!parent.exists(), "both were created after the note, and are empty");

        std::fs::create_dir_all(&dir).unwrap();
        let dirs = RuntimeDirs::before_init(&dir);
        dirs.remove();
        assert!(dir.exists(), "existing directories stay");

        std::fs::remove_dir(&dir).unwrap();
        let dirs = RuntimeDirs::before_init(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config"), b"x").unwrap();
        dirs.remove();
        assert!(dir.join("config").exists(), "a directory with files in it stays");
    }

    #[test]
    fn net_pcap_outputs_are_written_beside_and_renamed_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.pcap");
        let text = format!("--no-huge --vdev=net_pcap0,rx_pcap=in.pcap,tx_pcap={} --vdev net_pcap1,tx_pcap=/dev/null --vdev=net_ring0", out.display());
        let mut a = EalArgs::parse(&text, &[0]).unwrap();
        let line = a.line();
        let staged = a.stage_pcap_outputs().unwrap();
        assert_eq!(staged.files.len(), 1, "/dev/null is not a regular file: left as it is");
        let tmp = staged.files[0].1.to_path_buf();
        assert_eq!(tmp.parent(), Some(dir.path()));
        assert!(tmp.file_name().unwrap().to_string_lossy().starts_with(".out.pcap."));
        assert_eq!(a.words[2], format!("--vdev=net_pcap0,rx_pcap=in.pcap,tx_pcap={}", tmp.display()));
        assert_eq!(a.words[4], "net_pcap1,tx_pcap=/dev/null");
        assert_eq!(a.words[5], "--vdev=net_ring0");
        assert_ne!(a.line(), line);
        std::fs::write(&tmp, b"pcap").unwrap();
        assert!(!out.exists());
        staged.commit().unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"pcap");
        assert!(!tmp.exists());

        // Not committed: the destination keeps what it had, the temporary goes.
        let mut a = EalArgs::parse(&text, &[0]).unwrap();
        let staged = a.stage_pcap_outputs().unwrap();
        let tmp = staged.files[0].1.to_path_buf();
        std::fs::write(&tmp, b"partial").unwrap();
        drop(staged);
        assert_eq!(std::fs::read(&out).unwrap(), b"pcap");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let mut bad = EalArgs::parse("--vdev=net_pcap0,tx_pcap=/nonexistent-dir/o.pcap", &[0]).unwrap();
        assert_eq!(bad.stage_pcap_outputs().unwrap_err().0, PathBuf::from("/nonexistent-dir/o.pcap"));
    }

    #[test]
    fn this_process_may_run_somewhere() {
        assert!(!allowed_cpus().is_empty());
    }
}
