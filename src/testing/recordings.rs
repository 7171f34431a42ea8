//! The broker's recordings: which connections are recorded, and where their transcripts go.
//!
//! A recording selects connections by the client's `connection_name`, by user, or (neither
//! given) all of them, from the moment it starts: connections already open are not joined
//! halfway. Each selected connection gets its own transcript, numbered 1, 2, ... within the
//! recording; it is kept in memory, or written to `DIR/recording-<id>-conn-<n>.jsonl` when
//! the recording was given a directory (as `warren --record DIR` does, for a broker that
//! records for a long time).

use super::recorder::Recorder;
use super::transcript::Record;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// An in-memory recording keeps at most this much JSON, over all its connections; past it,
/// it records nothing more (and says so: [`Recording::is_truncated`]). A recording into a
/// directory has no such limit.
pub const MAX_IN_MEMORY: u64 = 256 << 20;

/// Which connections a recording takes, and whether it keeps message bodies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    /// The client-provided connection name (`connection_name` in its client properties).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Bodies are recorded (as text when UTF-8, else base64); otherwise only their sizes.
    #[serde(default)]
    pub bodies: bool,
}

impl Selector {
    /// Every connection, bodies included.
    pub fn all() -> Selector {
        Selector {
            bodies: true,
            ..Selector::default()
        }
    }

    /// Connections whose client named them `name`, bodies included.
    pub fn connection_name(name: &str) -> Selector {
        Selector {
            connection_name: Some(name.to_owned()),
            bodies: true,
            ..Selector::default()
        }
    }

    /// Connections of `user`, bodies included.
    pub fn user(user: &str) -> Selector {
        Selector {
            user: Some(user.to_owned()),
            bodies: true,
            ..Selector::default()
        }
    }

    pub fn matches(&self, connection_name: Option<&str>, user: Option<&str>) -> bool {
        let wants = |want: &Option<String>, got: Option<&str>| match want {
            Some(w) => got == Some(w.as_str()),
            None => true,
        };
        wants(&self.connection_name, connection_name) && wants(&self.user, user)
    }
}

/// One recording: its selector and the transcripts of the connections it took.
#[derive(Debug)]
pub struct Recording {
    id: u64,
    selector: Selector,
    dir: Option<PathBuf>,
    stopped: AtomicBool,
    next_conn: AtomicU32,
    records: AtomicU64,
    /// JSON kept in memory, in bytes.
    bytes: AtomicU64,
    truncated: AtomicBool,
    /// Per connection, in order: its JSON lines (in memory) or its file (with a directory).
    transcripts: Mutex<Vec<Transcript>>,
}

#[derive(Debug)]
enum Transcript {
    Memory(Vec<String>),
    File(PathBuf),
}

impl Recording {
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    pub fn is_active(&self) -> bool {
        !self.stopped.load(Ordering::Relaxed)
    }

    /// How many connections it has recorded.
    pub fn connections(&self) -> u32 {
        self.next_conn.load(Ordering::Relaxed)
    }

    /// It reached [`MAX_IN_MEMORY`] and stopped taking records.
    pub fn is_truncated(&self) -> bool {
        self.truncated.load(Ordering::Relaxed)
    }

    /// How many records it holds, over all its connections.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    fn transcripts(&self) -> MutexGuard<'_, Vec<Transcript>> {
        // A panic elsewhere while holding the lock leaves whole lines behind: keep going.
        self.transcripts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every connection's records as JSON lines, connection 1 first.
    pub fn lines(&self) -> io::Result<String> {
        let mut out = String::new();
        let files: Vec<PathBuf> = {
            let transcripts = self.transcripts();
            let mut files = Vec::new();
            for t in transcripts.iter() {
                match t {
                    Transcript::Memory(lines) => {
                        for l in lines {
                            out.push_str(l);
                            out.push('\n');
                        }
                    }
                    Transcript::File(path) => files.push(path.clone()),
                }
            }
            files
        };
        for f in files {
            out.push_str(&std::fs::read_to_string(f)?);
        }
        Ok(out)
    }

    /// Every connection's records.
    pub fn transcript(&self) -> io::Result<Vec<Record>> {
        super::transcript::parse(&self.lines()?).map_err(io::Error::other)
    }

    /// A new connection's place in the recording.
    pub(super) fn open_connection(self: &Arc<Self>) -> io::Result<Sink> {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
        let (file, transcript) = match &self.dir {
            Some(dir) => {
                let path = dir.join(format!("recording-{}-conn-{conn}.jsonl", self.id));
                let file = BufWriter::new(File::create(&path)?);
                (Some(file), Transcript::File(path))
            }
            None => (None, Transcript::Memory(Vec::new())),
        };
        let mut transcripts = self.transcripts();
        let index = transcripts.len();
        transcripts.push(transcript);
        Ok(Sink {
            recording: self.clone(),
            conn,
            index,
            file,
        })
    }
}

/// Where one connection's records go.
pub struct Sink {
    recording: Arc<Recording>,
    conn: u32,
    index: usize,
    file: Option<BufWriter<File>>,
}

impl Sink {
    /// Records `r`; false once the recording has stopped (or its file failed).
    pub(super) fn write(&mut self, r: &Record) -> bool {
        if !self.recording.is_active() {
            return false;
        }
        let mut r = r.clone();
        r.conn = self.conn;
        if !self.recording.selector.bodies {
            r.body = None;
            r.body_base64 = None;
        }
        let line = r.to_line();
        if self.file.is_none() {
            let rec = &self.recording;
            let held = rec
                .bytes
                .fetch_add(line.len() as u64 + 1, Ordering::Relaxed);
            if held + line.len() as u64 >= MAX_IN_MEMORY {
                if !rec.truncated.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "recording {} holds {MAX_IN_MEMORY} bytes: recording no more",
                        rec.id
                    );
                }
                return false;
            }
        }
        self.recording.records.fetch_add(1, Ordering::Relaxed);
        match &mut self.file {
            Some(f) => {
                if let Err(e) = writeln!(f, "{line}") {
                    tracing::warn!("recording {}: cannot write: {e}", self.recording.id);
                    return false;
                }
            }
            None => {
                if let Some(Transcript::Memory(lines)) =
                    self.recording.transcripts().get_mut(self.index)
                {
                    lines.push(line);
                }
            }
        }
        true
    }

    /// Puts buffered lines in the file, so a reader sees a connection's records so far.
    pub(super) fn flush(&mut self) {
        if let Some(f) = &mut self.file {
            let _ = f.flush();
        }
    }
}

/// The recordings of one broker; owned by `broker::Core`.
#[derive(Debug, Default)]
pub struct Recordings {
    /// How many are active: the one load an accepted connection pays when it is zero.
    active: AtomicUsize,
    list: Mutex<Vec<Arc<Recording>>>,
    next_id: AtomicU64,
}

impl Recordings {
    fn list_guard(&self) -> MutexGuard<'_, Vec<Arc<Recording>>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts recording the connections `selector` takes from now on, in memory.
    pub fn start(&self, selector: Selector) -> Arc<Recording> {
        self.add(selector, None)
    }

    /// Starts recording the connections `selector` takes from now on, one file per
    /// connection in `dir` (created if missing).
    pub fn start_in(&self, selector: Selector, dir: &Path) -> io::Result<Arc<Recording>> {
        std::fs::create_dir_all(dir)?;
        Ok(self.add(selector, Some(dir.to_path_buf())))
    }

    fn add(&self, selector: Selector, dir: Option<PathBuf>) -> Arc<Recording> {
        let recording = Arc::new(Recording {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            selector,
            dir,
            stopped: AtomicBool::new(false),
            next_conn: AtomicU32::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            truncated: AtomicBool::new(false),
            transcripts: Mutex::new(Vec::new()),
        });
        self.list_guard().push(recording.clone());
        self.active.fetch_add(1, Ordering::Relaxed);
        recording
    }

    /// Stops a recording and forgets it; its transcripts stay with whoever holds it (and in
    /// its files). None if there was no such recording.
    pub fn stop(&self, id: u64) -> Option<Arc<Recording>> {
        let mut list = self.list_guard();
        let at = list.iter().position(|r| r.id == id)?;
        let recording = list.remove(at);
        recording.stopped.store(true, Ordering::Relaxed);
        self.active.fetch_sub(1, Ordering::Relaxed);
        Some(recording)
    }

    pub fn get(&self, id: u64) -> Option<Arc<Recording>> {
        self.list_guard().iter().find(|r| r.id == id).cloned()
    }

    pub fn list(&self) -> Vec<Arc<Recording>> {
        self.list_guard().clone()
    }

    /// A recorder for a connection being accepted, or None when nothing records.
    pub fn tap(&self) -> Option<Box<Recorder>> {
        if self.active.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let candidates = self.list();
        if candidates.is_empty() {
            return None;
        }
        Some(Box::new(Recorder::new(candidates)))
    }
}

/// A recording started from Rust ([`crate::Broker::record`]): read its transcript at any
/// time, stop it when done. Dropping the handle does not stop it.
pub struct RecordingHandle {
    recording: Arc<Recording>,
    core: Arc<crate::broker::Core>,
}

impl RecordingHandle {
    pub fn new(recording: Arc<Recording>, core: Arc<crate::broker::Core>) -> Self {
        RecordingHandle { recording, core }
    }

    pub fn id(&self) -> u64 {
        self.recording.id()
    }

    /// The records so far, every connection's.
    pub fn transcript(&self) -> io::Result<Vec<Record>> {
        self.recording.transcript()
    }

    /// The records so far as JSON lines.
    pub fn lines(&self) -> io::Result<String> {
        self.recording.lines()
    }

    /// Stops recording and returns what was recorded.
    pub fn stop(self) -> io::Result<Vec<Record>> {
        self.core.recordings().stop(self.recording.id());
        self.recording.transcript()
    }
}
