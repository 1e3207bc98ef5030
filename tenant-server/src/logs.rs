//! Logs and audit lines on stdout, written in batches. A request appends its line to a shared
//! buffer (one short lock, no system call); one thread writes the buffer out every few
//! milliseconds while there is something to write, and sleeps otherwise. At tens of thousands
//! of calls per second this turns one `write` per audit line into one per batch, and unlike a
//! channel-based writer nothing spins waiting for lines.
//!
//! Nothing is dropped: when the buffer reaches its bound the logging call writes the backlog
//! itself (back-pressure), and dropping the [`Flusher`] writes what is left.

use std::{
    io::{self, Write},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::JoinHandle,
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// How long lines gather before a batch is written.
const BATCH_WINDOW: Duration = Duration::from_millis(10);
/// Above this many buffered bytes the logging call writes the backlog itself.
const MAX_BUFFERED: usize = 1 << 20;

struct Pending {
    lines: Vec<u8>,
    closed: bool,
}

struct Shared<W> {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Held while a batch is written, so batches reach the output in order.
    out: Mutex<W>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while logging cannot leave a byte buffer inconsistent; keep logging.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<W: Write> Shared<W> {
    /// Writes out everything buffered so far.
    fn write_batch(&self, spare: &mut Vec<u8>) {
        let mut out = lock(&self.out);
        std::mem::swap(&mut lock(&self.pending).lines, spare);
        if !spare.is_empty() {
            // Nowhere to report a failure to write the logs; the lines are gone either way.
            let _ = out.write_all(spare).and_then(|()| out.flush());
            spare.clear();
        }
    }

    fn append(&self, line: &[u8]) {
        let mut pending = lock(&self.pending);
        let was_empty = pending.lines.is_empty();
        pending.lines.extend_from_slice(line);
        let full = pending.lines.len() >= MAX_BUFFERED;
        drop(pending);
        if full {
            self.write_batch(&mut Vec::new());
        } else if was_empty {
            self.wake.notify_one();
        }
    }

    fn run(&self) {
        let mut spare = Vec::new();
        loop {
            let closed = {
                let mut pending = lock(&self.pending);
                while pending.lines.is_empty() && !pending.closed {
                    pending = self
                        .wake
                        .wait(pending)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                pending.closed
            };
            if !closed {
                std::thread::sleep(BATCH_WINDOW);
            }
            self.write_batch(&mut spare);
            if closed {
                return;
            }
        }
    }
}

/// The [`MakeWriter`] for `tracing_subscriber::fmt`: each event's formatted line is appended
/// with one `write_all`.
pub struct BatchWriter<W>(Arc<Shared<W>>);

/// Writes what is buffered and stops the writing thread when dropped.
pub struct Flusher<W: Write> {
    shared: Arc<Shared<W>>,
    thread: Option<JoinHandle<()>>,
}

/// A writer of batches to `out` and the guard that flushes it.
pub fn batched<W: Write + Send + 'static>(out: W) -> io::Result<(BatchWriter<W>, Flusher<W>)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending {
            lines: Vec::new(),
            closed: false,
        }),
        wake: Condvar::new(),
        out: Mutex::new(out),
    });
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || shared.run())?
    };
    Ok((
        BatchWriter(shared.clone()),
        Flusher {
            shared,
            thread: Some(thread),
        },
    ))
}

impl<W: Write> Drop for Flusher<W> {
    fn drop(&mut self) {
        lock(&self.shared.pending).closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Lines logged after the thread ended (by other threads still running).
        self.shared.write_batch(&mut Vec::new());
    }
}

pub struct LineWriter<'a, W>(&'a Shared<W>);

impl<W: Write> Write for LineWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for BatchWriter<W> {
    type Writer = LineWriter<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that records what reached it and how many writes it took.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut seen = self.0.lock().unwrap();
            seen.0.extend_from_slice(buf);
            seen.1 += 1;
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_whole_in_order_per_thread_in_few_writes() {
        let out = Recorder::default();
        let (writer, flusher) = batched(out.clone()).unwrap();
        let writer = Arc::new(writer);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        writer
                            .make_writer()
                            .write_all(format!("{t} {i} {}\n", "x".repeat(100)).as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flusher);
        let (bytes, writes) = out.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20_000);
        for t in 0..4 {
            let order: Vec<usize> = lines
                .iter()
                .map(|l| l.split(' ').collect::<Vec<_>>())
                .filter(|f| f[0] == t.to_string())
                .map(|f| {
                    assert_eq!(f[2].len(), 100, "a line arrived whole");
                    f[1].parse().unwrap()
                })
                .collect();
            assert_eq!(order, (0..5_000).collect::<Vec<_>>());
        }
        assert!(writes < 2_000, "{writes} writes for 20,000 lines");
    }

    #[test]
    fn a_full_buffer_is_written_by_the_caller_and_drop_writes_the_rest() {
        let out = Recorder::default();
        let (writer, flusher) = batched(out.clone()).unwrap();
        // Over the bound in one go: written at once, before the batch window ends.
        let big = vec![b'a'; MAX_BUFFERED + 1];
        writer.make_writer().write_all(&big).unwrap();
        assert_eq!(out.0.lock().unwrap().0.len(), big.len());
        writer.make_writer().write_all(b"last\n").unwrap();
        drop(flusher);
        assert!(out.0.lock().unwrap().0.ends_with(b"alast\n"));
    }
}
