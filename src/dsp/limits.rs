//! Live-safety limits on what one track may ask of the engine (control side).
//!
//! [`VoiceLimits`] sets how long a note may sound and how many notes a track may start in
//! a short time; [`StartLimiter`] enforces the second, per track, before a voice is even
//! built. The voice caps of the audio side (stealing) are in
//! [`MixerConfig`](super::mixer::MixerConfig). Nothing here runs on the audio thread.

/// Limits applied while turning events into voices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoiceLimits {
    /// Longest a note sounds, in seconds: a voice still sounding then (a huge release, a
    /// note hundreds of cycles long, a sample played very slowly) fades out over
    /// [`MAX_NOTE_FADE`] seconds ending at that length.
    pub max_note: f64,
    /// Most voices one track starts within any `start_window`; later events of the track
    /// in that window are skipped (counted and reported once per track).
    pub max_starts: usize,
    /// The window of `max_starts`, in seconds.
    pub start_window: f64,
}

impl Default for VoiceLimits {
    /// 60 s notes, 64 notes per track per 100 ms (640 per second).
    fn default() -> VoiceLimits {
        VoiceLimits { max_note: 60.0, max_starts: 64, start_window: 0.1 }
    }
}

/// The fade that ends a note reaching [`VoiceLimits::max_note`], in seconds.
pub const MAX_NOTE_FADE: f64 = 0.02;

/// Counts the voices each track starts and refuses those beyond
/// [`VoiceLimits::max_starts`] in any [`VoiceLimits::start_window`].
///
/// It remembers the start frames it let through, so the decision for an event depends
/// only on the events before it, whatever the scheduling windows are; and it can forget
/// starts from a frame on ([`StartLimiter::rewind`]) when they are cancelled and
/// scheduled again (an early reload), so that they are not counted twice.
#[derive(Clone, Debug, Default)]
pub struct StartLimiter {
    max: usize,
    window: u64,
    tracks: Vec<TrackStarts>,
    total: u64,
}

#[derive(Clone, Debug, Default)]
struct TrackStarts {
    /// Start frames let through recently (not necessarily sorted).
    starts: Vec<u64>,
    /// Latest start frame seen.
    latest: u64,
    /// Events refused since the last [`StartLimiter::take_skipped`].
    skipped: u64,
}

impl StartLimiter {
    /// A limiter for a sample rate.
    pub fn new(limits: &VoiceLimits, sample_rate: f64) -> StartLimiter {
        StartLimiter {
            max: limits.max_starts.max(1),
            window: (limits.start_window.max(0.0) * sample_rate).round().max(1.0) as u64,
            tracks: Vec::new(),
            total: 0,
        }
    }

    /// The most starts let through per window.
    pub fn max(&self) -> usize {
        self.max
    }

    /// True if track `track` may start a voice at frame `start` (and counts it), false
    /// if it has started [`VoiceLimits::max_starts`] within the window around it (and
    /// counts a skipped event).
    pub fn admit(&mut self, track: usize, start: u64) -> bool {
        if self.tracks.len() <= track {
            self.tracks.resize_with(track + 1, TrackStarts::default);
        }
        let window = self.window;
        let t = &mut self.tracks[track];
        t.latest = t.latest.max(start);
        // Older starts can no longer matter (events come at most a window out of order).
        let horizon = t.latest.saturating_sub(2 * window);
        t.starts.retain(|&s| s >= horizon);
        // In order, this counts the starts in (start - window, start]; an event that
        // comes after later ones is also held against those (stricter, never looser).
        let near = t.starts.iter().filter(|&&s| s + window > start && s < start + window).count();
        if near >= self.max {
            t.skipped += 1;
            self.total += 1;
            return false;
        }
        t.starts.push(start);
        true
    }

    /// Forgets the starts of track `track` at or after `frame` (they were cancelled).
    pub fn rewind(&mut self, track: usize, frame: u64) {
        if let Some(t) = self.tracks.get_mut(track) {
            t.starts.retain(|&s| s < frame);
            t.latest = t.starts.iter().copied().max().unwrap_or(0);
        }
    }

    /// Events of track `track` skipped since the last call.
    pub fn take_skipped(&mut self, track: usize) -> u64 {
        self.tracks.get_mut(track).map_or(0, |t| std::mem::take(&mut t.skipped))
    }

    /// Events skipped so far, over all tracks.
    pub fn skipped(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max: usize) -> StartLimiter {
        StartLimiter::new(&VoiceLimits { max_starts: max, start_window: 0.1, ..VoiceLimits::default() }, 1000.0)
    }

    #[test]
    fn at_most_max_per_window_per_track() {
        let mut l = limiter(4);
        // One event per frame for 1000 frames (10 windows of 100 frames).
        let let_through = (0..1000).filter(|&f| l.admit(0, f)).count();
        assert_eq!(let_through, 40);
        assert_eq!(l.skipped(), 960);
        assert_eq!(l.take_skipped(0), 960);
        assert_eq!(l.take_skipped(0), 0);
        // Another track is not affected.
        assert!((0..4).all(|i| l.admit(1, 500 + i)));
    }

    #[test]
    fn chords_pass_and_out_of_order_events_are_held_to_the_window() {
        let mut l = limiter(4);
        assert!((0..4).all(|_| l.admit(0, 0)), "a four-note chord");
        assert!(!l.admit(0, 50));
        assert!(l.admit(0, 100));
        // An event listed after later ones is counted against them too.
        let mut l = limiter(2);
        assert!(l.admit(0, 90) && l.admit(0, 95));
        assert!(!l.admit(0, 10));
    }

    #[test]
    fn rewound_starts_are_not_counted_twice() {
        let mut l = limiter(4);
        assert!((0..4).all(|i| l.admit(0, 10 * i)));
        l.rewind(0, 20);
        assert!(l.admit(0, 20) && l.admit(0, 30));
        assert!(!l.admit(0, 40));
    }
}
