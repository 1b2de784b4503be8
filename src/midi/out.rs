//! The MIDI output thread: owns the midir connections and sends each message when its
//! frame is heard (the audio output's latency and `--midi-offset` included), so MIDI
//! and audio land together. Nothing MIDI runs on the audio thread.
//!
//! It keeps every note it owes a note-off for, so that no note is ever left stuck: a
//! reload moves the note-off of a note the new version does not play to the swap, and
//! pause, panic, mute, a lost port and the end of the session send what is owed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use midir::{MidiOutput, MidiOutputConnection};

use super::message::Message;
use crate::engine::scheduler::{MidiCommand, MidiOut};

/// Turns a frame into the moment it is heard (`None` before the audio has started).
pub type Timebase = Box<dyn Fn(u64) -> Option<Instant> + Send>;

/// What the control thread tells the MIDI thread.
#[derive(Debug)]
pub enum ToMidi {
    /// Messages and note-off changes from the scheduler.
    Batch(Vec<MidiCommand>),
    /// Events cancelled before they were sent (a swap or tempo change rescheduled them).
    Cancel(Vec<u64>),
    /// Pause or panic: events numbered below `below` send nothing more from frame `at`,
    /// and their notes get their note-offs at `at`.
    Silence {
        /// The frame.
        at: u64,
        /// Events numbered below this.
        below: u64,
    },
    /// Mute or unmute a track id: a muted track sends no notes (its controls still go),
    /// and its sounding notes get their note-offs at `at`.
    Mute {
        /// The track id.
        track: usize,
        /// Muted or not.
        muted: bool,
        /// The frame.
        at: u64,
    },
    /// Forget the clock messages queued from this frame on (the tempo changed: they are
    /// sent again).
    DropClock(u64),
}

/// What the MIDI side reports (read by anyone).
#[derive(Debug, Default)]
pub struct MidiStatus {
    /// Messages sent.
    pub sent: AtomicU64,
    /// Messages sent more than a millisecond after their time.
    pub late: AtomicU64,
    /// Ports connected now: their names.
    pub ports: Mutex<Vec<String>>,
    /// Warnings not yet taken (a port not found, lost...).
    warnings: Mutex<Vec<String>>,
}

impl MidiStatus {
    /// Warnings since the last call.
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default()
    }

    fn warn(&self, w: String) {
        if let Ok(mut v) = self.warnings.lock() {
            v.push(w);
        }
    }
}

/// Options of the MIDI side.
#[derive(Clone, Debug, Default)]
pub struct MidiOptions {
    /// Open a virtual output port of this name (where the platform has them).
    pub virtual_port: Option<String>,
    /// Ports (part of a name, or an index) that get the MIDI clock.
    pub clock_ports: Vec<String>,
    /// Seconds MIDI is sent later (positive) or earlier than the audio it goes with.
    pub offset: f64,
}

/// The MIDI output thread's handle; dropping it sends every note-off owed and stops.
pub struct MidiSender {
    tx: Option<mpsc::Sender<ToMidi>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// What it reports.
    pub status: Arc<MidiStatus>,
}

impl MidiSender {
    /// Starts the thread.
    pub fn start(options: MidiOptions, timebase: Timebase) -> std::io::Result<MidiSender> {
        let (tx, rx) = mpsc::channel();
        let status = Arc::new(MidiStatus::default());
        let s = status.clone();
        let thread = std::thread::Builder::new()
            .name("rhaithm-midi".into())
            .spawn(move || Sender::new(options, timebase, s).run(rx))?;
        Ok(MidiSender { tx: Some(tx), thread: Some(thread), status })
    }

    /// Sends something to the thread.
    pub fn send(&self, m: ToMidi) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(m);
        }
    }
}

impl Drop for MidiSender {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The order of messages due at the same frame: note-offs first (so a repeated note
/// retriggers), then controls, then note-ons.
fn rank(m: &Message) -> u8 {
    match m {
        Message::NoteOff { .. } => 0,
        Message::NoteOn { .. } => 2,
        _ => 1,
    }
}

type Key = (u64, u8, u64);

struct Pending {
    id: u64,
    track: usize,
    port: Arc<str>,
    message: Message,
}

struct Port {
    name: String,
    conn: Option<MidiOutputConnection>,
    /// Channels that had notes, for "all notes off" after a reconnection.
    channels: u16,
    /// When to try again after a failure.
    retry: Option<Instant>,
}

struct Sender {
    options: MidiOptions,
    timebase: Timebase,
    status: Arc<MidiStatus>,
    pending: BTreeMap<Key, Pending>,
    /// The key of each event's note-off.
    offs: HashMap<u64, Key>,
    /// Events whose note-on went out (their note-off is owed).
    sounding: HashSet<u64>,
    /// The event holding each key: (port, channel, key).
    keys: HashMap<(usize, u8, u8), u64>,
    muted: HashSet<usize>,
    seq: u64,
    /// Open connections by the port pattern asked for.
    ports: HashMap<Arc<str>, usize>,
    opened: Vec<Port>,
    virtual_port: Option<usize>,
    /// Patterns that matched no port (warned once).
    missing: HashSet<Arc<str>>,
    /// When a pattern that matched no port is looked for again.
    look_again: HashMap<Arc<str>, Instant>,
}

const CLIENT: &str = "rhaithm";

impl Sender {
    fn new(options: MidiOptions, timebase: Timebase, status: Arc<MidiStatus>) -> Sender {
        let mut s = Sender {
            options,
            timebase,
            status,
            pending: BTreeMap::new(),
            offs: HashMap::new(),
            sounding: HashSet::new(),
            keys: HashMap::new(),
            muted: HashSet::new(),
            seq: 0,
            ports: HashMap::new(),
            opened: Vec::new(),
            virtual_port: None,
            missing: HashSet::new(),
            look_again: HashMap::new(),
        };
        if let Some(name) = s.options.virtual_port.clone() {
            match open_virtual(&name) {
                Ok(conn) => {
                    s.opened.push(Port { name: name.clone(), conn: Some(conn), channels: 0, retry: None });
                    s.virtual_port = Some(0);
                }
                Err(e) => s.status.warn(format!("cannot open the virtual MIDI port \"{name}\": {e}")),
            }
        }
        s.publish_ports();
        s
    }

    fn publish_ports(&self) {
        if let Ok(mut p) = self.status.ports.lock() {
            *p = self.opened.iter().filter(|p| p.conn.is_some()).map(|p| p.name.clone()).collect();
        }
    }

    fn push(&mut self, at: u64, p: Pending) -> Key {
        self.seq += 1;
        let key = (at, rank(&p.message), self.seq);
        self.pending.insert(key, p);
        key
    }

    fn apply(&mut self, m: ToMidi) {
        match m {
            ToMidi::Batch(commands) => {
                for c in commands {
                    match c {
                        MidiCommand::Send(MidiOut { id, track, port, at, message, off, .. }) => {
                            if let (Message::NoteOn { channel, key, .. }, Some(off)) = (message, off) {
                                let k = self.push(
                                    off,
                                    Pending {
                                        id,
                                        track,
                                        port: port.clone(),
                                        message: Message::NoteOff { channel, key },
                                    },
                                );
                                self.offs.insert(id, k);
                            }
                            self.push(at, Pending { id, track, port, message });
                        }
                        MidiCommand::Cut { id, at } => self.move_off(id, at),
                    }
                }
            }
            ToMidi::Cancel(ids) => {
                let ids: HashSet<u64> = ids.into_iter().collect();
                self.pending.retain(|_, p| !ids.contains(&p.id) || matches!(p.message, Message::NoteOff { .. }));
                for id in ids {
                    if !self.sounding.contains(&id)
                        && let Some(k) = self.offs.remove(&id)
                    {
                        self.pending.remove(&k);
                    }
                }
            }
            ToMidi::Silence { at, below } => {
                // Nothing of these events goes out from `at` on but their note-offs.
                // The clock's own messages (numbered 0) are not the music's: pause drops
                // its ticks on its own (`DropClock`), and its stop and continue stay.
                let stops = |k: &Key, p: &Pending| {
                    p.id != 0 && p.id < below && k.0 >= at && !matches!(p.message, Message::NoteOff { .. })
                };
                let dropped: Vec<u64> = self.pending.iter().filter(|(k, p)| stops(k, p)).map(|(_, p)| p.id).collect();
                self.pending.retain(|k, p| !stops(k, p));
                for id in dropped {
                    if !self.sounding.contains(&id)
                        && let Some(k) = self.offs.remove(&id)
                    {
                        self.pending.remove(&k);
                    }
                }
                let owed: Vec<u64> = self.offs.keys().copied().filter(|&id| id < below).collect();
                for id in owed {
                    self.move_off(id, at);
                }
            }
            ToMidi::Mute { track, muted, at } => {
                if muted {
                    self.muted.insert(track);
                    // Only notes already sounding: a note still queued is dropped when its
                    // time comes if the track is still muted, or plays whole if not.
                    let owed: Vec<u64> = self
                        .offs
                        .iter()
                        .filter(|(id, k)| {
                            self.sounding.contains(id) && self.pending.get(k).is_some_and(|p| p.track == track)
                        })
                        .map(|(id, _)| *id)
                        .collect();
                    for id in owed {
                        self.move_off(id, at);
                    }
                } else {
                    self.muted.remove(&track);
                }
            }
            ToMidi::DropClock(from) => {
                self.pending.retain(|k, p| !(k.0 >= from && matches!(p.message, Message::Clock)));
            }
        }
    }

    /// Moves an event's note-off earlier, to `at`.
    fn move_off(&mut self, id: u64, at: u64) {
        if let Some(k) = self.offs.get(&id).copied()
            && k.0 > at
            && let Some(p) = self.pending.remove(&k)
        {
            let nk = self.push(at, p);
            self.offs.insert(id, nk);
        }
    }

    /// The connection for a port pattern, opened on first use.
    fn port(&mut self, pattern: &Arc<str>) -> Option<usize> {
        if let Some(&i) = self.ports.get(pattern) {
            return Some(i);
        }
        if pattern.is_empty()
            && let Some(v) = self.virtual_port
        {
            self.ports.insert(pattern.clone(), v);
            return Some(v);
        }
        if self.look_again.get(pattern).is_some_and(|t| *t > Instant::now()) {
            return None;
        }
        self.look_again.insert(pattern.clone(), Instant::now() + Duration::from_secs(1));
        match find_output(pattern) {
            Ok(Some(name)) => {
                if let Some(i) = self.opened.iter().position(|p| p.name == name) {
                    self.ports.insert(pattern.clone(), i);
                    return Some(i);
                }
                let conn = connect(&name);
                if let Err(e) = &conn {
                    self.status.warn(format!("cannot open MIDI port \"{name}\": {e}"));
                }
                self.opened.push(Port {
                    name,
                    conn: conn.ok(),
                    channels: 0,
                    retry: Some(Instant::now() + Duration::from_secs(1)),
                });
                let i = self.opened.len() - 1;
                self.ports.insert(pattern.clone(), i);
                self.publish_ports();
                Some(i)
            }
            Ok(None) => {
                if self.missing.insert(pattern.clone()) {
                    let shown = if pattern.is_empty() { "any".to_string() } else { format!("\"{pattern}\"") };
                    let known = list_outputs().unwrap_or_default();
                    self.status.warn(format!(
                        "no MIDI output matches {shown} (outputs: {}); its messages are dropped until it appears",
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ));
                }
                None
            }
            Err(e) => {
                if self.missing.insert(pattern.clone()) {
                    self.status.warn(format!("MIDI is not available: {e}"));
                }
                None
            }
        }
    }

    fn send_now(&mut self, p: &Pending, late: Option<Duration>) {
        if matches!(p.message, Message::NoteOn { .. }) && self.muted.contains(&p.track) {
            if let Some(k) = self.offs.remove(&p.id) {
                self.pending.remove(&k);
            }
            return;
        }
        let Some(i) = self.port(&p.port) else {
            self.unsent(p);
            return;
        };
        // A key struck again while an earlier note holds it: the earlier note ends here
        // (as a keyboard would), so every note-on has exactly one note-off.
        if let Message::NoteOn { channel, key, .. } = p.message
            && let Some(&earlier) = self.keys.get(&(i, channel, key))
            && earlier != p.id
            && self.sounding.contains(&earlier)
            && let Some(k) = self.offs.remove(&earlier)
            && let Some(off) = self.pending.remove(&k)
        {
            self.send_now(&off, None);
        }
        if self.opened[i].conn.is_none() {
            self.unsent(p);
            return;
        }
        let port = &mut self.opened[i];
        let Some(conn) = port.conn.as_mut() else { return };
        let (bytes, n) = p.message.bytes();
        match conn.send(&bytes[..n]) {
            Ok(()) => {
                self.status.sent.fetch_add(1, Ordering::Relaxed);
                if late.is_some_and(|l| l > Duration::from_millis(1)) {
                    self.status.late.fetch_add(1, Ordering::Relaxed);
                }
                match p.message {
                    Message::NoteOn { channel, key, .. } => {
                        port.channels |= 1 << channel;
                        self.sounding.insert(p.id);
                        self.keys.insert((i, channel, key), p.id);
                    }
                    Message::NoteOff { channel, key } => {
                        self.sounding.remove(&p.id);
                        self.offs.remove(&p.id);
                        if self.keys.get(&(i, channel, key)) == Some(&p.id) {
                            self.keys.remove(&(i, channel, key));
                        }
                    }
                    _ => {}
                }
            }
            Err(e) => {
                let name = port.name.clone();
                port.conn = None;
                port.retry = Some(Instant::now() + Duration::from_secs(1));
                self.status.warn(format!("MIDI port \"{name}\" lost ({e}); reopening when it comes back"));
                self.publish_ports();
            }
        }
    }

    /// A message that could not go out (no such port, or it is lost): a note-on's
    /// note-off is not owed, and a note-off is done with.
    fn unsent(&mut self, p: &Pending) {
        match p.message {
            Message::NoteOn { .. } if !self.sounding.contains(&p.id) => {
                if let Some(k) = self.offs.remove(&p.id) {
                    self.pending.remove(&k);
                }
            }
            Message::NoteOff { .. } => {
                self.sounding.remove(&p.id);
                self.offs.remove(&p.id);
                self.keys.retain(|_, id| *id != p.id);
            }
            _ => {}
        }
    }

    /// Reopens lost ports; each reopened port gets "all notes off" on the channels it
    /// had notes on (the note-offs owed could not reach it).
    fn reopen(&mut self) {
        let now = Instant::now();
        let mut changed = false;
        for port in self.opened.iter_mut() {
            if port.conn.is_some() || port.retry.is_none_or(|t| t > now) {
                continue;
            }
            port.retry = Some(now + Duration::from_secs(1));
            if let Ok(Some(name)) = find_output(&port.name)
                && let Ok(mut conn) = connect(&name)
            {
                for channel in 0..16u8 {
                    if port.channels & (1 << channel) != 0 {
                        let (b, n) = Message::Control { channel, controller: 123, value: 0 }.bytes();
                        let _ = conn.send(&b[..n]);
                    }
                }
                port.conn = Some(conn);
                self.status.warn(format!("MIDI port \"{}\" is back", port.name));
                changed = true;
            }
        }
        if changed {
            self.publish_ports();
        }
    }

    fn run(mut self, rx: mpsc::Receiver<ToMidi>) {
        let offset = Duration::from_secs_f64(self.options.offset.abs());
        let later = self.options.offset >= 0.0;
        loop {
            // Everything due now goes out, in order.
            let now = Instant::now();
            while let Some((&key, _)) = self.pending.first_key_value() {
                let Some(heard) = (self.timebase)(key.0) else { break };
                let due = if later { heard + offset } else { heard.checked_sub(offset).unwrap_or(heard) };
                if due > now + Duration::from_micros(200) {
                    break;
                }
                let Some(p) = self.pending.remove(&key) else { break };
                self.send_now(&p, now.checked_duration_since(due));
            }
            self.reopen();
            let wait = self
                .pending
                .first_key_value()
                .and_then(|(k, _)| (self.timebase)(k.0))
                .map(|due| if later { due + offset } else { due.checked_sub(offset).unwrap_or(due) })
                .map_or(Duration::from_millis(20), |due| due.saturating_duration_since(Instant::now()))
                .min(Duration::from_millis(20));
            // Sleep until a little before the next message, then wait for it closely.
            let got = if wait > Duration::from_micros(1500) {
                rx.recv_timeout(wait - Duration::from_millis(1))
            } else if wait > Duration::from_micros(400) {
                // Close: sleep (a sleep overshoots by tens of microseconds) to about 200 µs
                // before it, then yield for the rest.
                std::thread::sleep(wait - Duration::from_micros(200));
                rx.try_recv().map_err(|e| match e {
                    mpsc::TryRecvError::Empty => mpsc::RecvTimeoutError::Timeout,
                    mpsc::TryRecvError::Disconnected => mpsc::RecvTimeoutError::Disconnected,
                })
            } else {
                std::thread::yield_now();
                rx.try_recv().map_err(|e| match e {
                    mpsc::TryRecvError::Empty => mpsc::RecvTimeoutError::Timeout,
                    mpsc::TryRecvError::Disconnected => mpsc::RecvTimeoutError::Disconnected,
                })
            };
            match got {
                Ok(m) => {
                    self.apply(m);
                    while let Ok(m) = rx.try_recv() {
                        self.apply(m);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        self.finish();
    }

    /// The end: every note-off owed goes out now, and the clock stops.
    fn finish(&mut self) {
        let owed: Vec<Pending> = std::mem::take(&mut self.pending)
            .into_values()
            .filter(|p| matches!(p.message, Message::NoteOff { .. }) && self.sounding.contains(&p.id))
            .collect();
        for p in owed {
            self.send_now(&p, None);
        }
        for port in self.options.clock_ports.clone() {
            let p = Pending { id: 0, track: usize::MAX, port: Arc::from(port.as_str()), message: Message::Stop };
            self.send_now(&p, None);
        }
        if !self.opened.is_empty() {
            // Some backends (JACK) hand messages over at their next period: closing the
            // ports at once would lose these last ones.
            std::thread::sleep(Duration::from_millis(60));
        }
    }
}

fn open_virtual(name: &str) -> Result<MidiOutputConnection, String> {
    // alsa-lib prints its own complaints (no sequencer...) over the UI otherwise.
    crate::audio::device::quiet_alsa();
    #[cfg(unix)]
    {
        use midir::os::unix::VirtualOutput;
        let out = MidiOutput::new(CLIENT).map_err(|e| e.to_string())?;
        out.create_virtual(name).map_err(|e| e.to_string())
    }
    #[cfg(not(unix))]
    {
        let _ = name;
        Err("this platform has no virtual MIDI ports".into())
    }
}

fn connect(name: &str) -> Result<MidiOutputConnection, String> {
    // alsa-lib prints its own complaints (no sequencer...) over the UI otherwise.
    crate::audio::device::quiet_alsa();
    let out = MidiOutput::new(CLIENT).map_err(|e| e.to_string())?;
    let port = out.ports().into_iter().find(|p| out.port_name(p).is_ok_and(|n| n == name));
    let port = port.ok_or_else(|| "it went away".to_string())?;
    out.connect(&port, "out").map_err(|e| e.to_string())
}

/// The MIDI output ports' names.
pub fn list_outputs() -> Result<Vec<String>, String> {
    // alsa-lib prints its own complaints (no sequencer...) over the UI otherwise.
    crate::audio::device::quiet_alsa();
    let out = MidiOutput::new(CLIENT).map_err(|e| e.to_string())?;
    Ok(out.ports().iter().filter_map(|p| out.port_name(p).ok()).collect())
}

/// The MIDI input ports' names.
pub fn list_inputs() -> Result<Vec<String>, String> {
    // alsa-lib prints its own complaints (no sequencer...) over the UI otherwise.
    crate::audio::device::quiet_alsa();
    let input = midir::MidiInput::new(CLIENT).map_err(|e| e.to_string())?;
    Ok(input.ports().iter().filter_map(|p| input.port_name(p).ok()).collect())
}

/// The port a pattern names: an index, or the first whose name contains it (case
/// insensitive); "" is the first port. Ports rhaithm opened itself are skipped.
pub fn pick(names: &[String], pattern: &str) -> Option<String> {
    let names: Vec<&String> = names.iter().filter(|n| !n.starts_with(&format!("{CLIENT}:"))).collect();
    if pattern.is_empty() {
        return names.first().map(|s| s.to_string());
    }
    if let Ok(i) = pattern.trim().parse::<usize>() {
        return names.get(i).map(|s| s.to_string());
    }
    let lower = pattern.to_lowercase();
    names.iter().find(|n| n.to_lowercase().contains(&lower)).map(|s| s.to_string())
}

fn find_output(pattern: &str) -> Result<Option<String>, String> {
    Ok(pick(&list_outputs()?, pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_picked_by_index_or_part_of_their_name() {
        let names: Vec<String> =
            ["rhaithm:out", "Midi Through:0", "system:midi_playback_1", "USB Synth MIDI 1"].map(String::from).into();
        assert_eq!(pick(&names, "").as_deref(), Some("Midi Through:0"));
        assert_eq!(pick(&names, "usb synth").as_deref(), Some("USB Synth MIDI 1"));
        assert_eq!(pick(&names, "1").as_deref(), Some("system:midi_playback_1"));
        assert_eq!(pick(&names, "nothing"), None);
        assert_eq!(pick(&names, "9"), None);
    }

    #[test]
    fn note_offs_go_first_at_the_same_frame() {
        assert!(rank(&Message::NoteOff { channel: 0, key: 1 }) < rank(&Message::Clock));
        assert!(rank(&Message::Clock) < rank(&Message::NoteOn { channel: 0, key: 1, velocity: 1 }));
    }
}
