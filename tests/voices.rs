//! Live safety of the voices (issue 9): a version cannot hurt the others. Endless notes
//! are stolen, not refused; slow samples and long notes end; a flooded track is capped
//! without touching the others; a hot track is limited on its own. Everything is rendered
//! offline through the real scheduler and mixer, and measured.

mod audio;

use std::sync::atomic::Ordering::Relaxed;

use audio::*;
use rhaithm::dsp::samples::SampleLibrary;
use rhaithm::dsp::{MixerConfig, VoiceLimits, mixer};
use rhaithm::engine::Scheduler;
use rhaithm::patch::Patch;

/// What a render through the scheduler and the mixer produced.
struct Take {
    samples: Vec<f32>,
    started: u64,
    stolen: u64,
    dropped: u64,
    skipped: u64,
    warnings: Vec<String>,
}

impl Take {
    fn channel(&self, c: usize) -> Vec<f32> {
        channel(&self.samples, c)
    }
}

/// Renders `versions` (each staged at its second) for `seconds`, like `engine::render`
/// but with a chosen mixer configuration and limits.
fn take(
    versions: &[(f64, &str)],
    seconds: f64,
    config: MixerConfig,
    limits: VoiceLimits,
    samples: SampleLibrary,
) -> Take {
    let patches: Vec<Patch> =
        versions.iter().map(|(_, src)| Patch::compile(src, None).unwrap_or_else(|e| panic!("{e}"))).collect();
    let mut scheduler = Scheduler::new(&patches[0], SR, samples);
    scheduler.set_voice_limits(limits);
    for ((at, _), patch) in versions.iter().zip(&patches).skip(1) {
        scheduler.stage(0, patch.clone(), secs(*at) as u64);
    }
    let (mut handle, mut mixer) = mixer(config);
    let frames = secs(seconds) as u64;
    let mut out = vec![0.0f32; 2 * frames as usize];
    let mut frame = 0;
    while frame < frames {
        let end = (frame + 1024).min(frames);
        let mut mixed = frame;
        for mut voice in scheduler.schedule(frame, end) {
            while let Err(v) = handle.send(voice) {
                voice = v;
                let upto = voice.start().max(mixed + 1).min(end);
                mixer.process(&mut out[2 * mixed as usize..2 * upto as usize]);
                handle.collect();
                mixed = upto;
            }
        }
        mixer.process(&mut out[2 * mixed as usize..2 * end as usize]);
        handle.collect();
        frame = end;
    }
    let stats = handle.stats();
    Take {
        samples: out,
        started: stats.started.load(Relaxed),
        stolen: stats.stolen.load(Relaxed),
        dropped: stats.dropped.load(Relaxed),
        skipped: scheduler.skipped_events(),
        warnings: scheduler.take_warnings(),
    }
}

fn defaults(versions: &[(f64, &str)], seconds: f64) -> Take {
    take(versions, seconds, MixerConfig::new(SR as f64), VoiceLimits::default(), SampleLibrary::default())
}

fn db(a: f64, b: f64) -> f64 {
    20.0 * (a / b).log10()
}

/// Levels of 50 ms windows from `from` seconds on.
fn window_levels(x: &[f32], from: f64) -> Vec<f64> {
    x[secs(from)..].chunks_exact(secs(0.05)).map(rms).collect()
}

/// Endless notes fill every voice slot; after the patch is fixed, its kick is heard:
/// it steals a slot from the old notes instead of being refused.
#[test]
fn endless_notes_do_not_keep_a_later_kick_out() {
    let endless = r#"setcps(1);
        d1(note("c3*32").s("sine").release(1e9)); d2(note("e3*32").s("sine").release(1e9));
        d3(note("g3*32").s("sine").release(1e9)); d4(note("b3*32").s("sine").release(1e9));
        d5(note("d4*32").s("sine").release(1e9));"#;
    let with_kick = defaults(&[(0.0, endless), (2.0, r#"setcps(1); d1(s("bd"))"#)], 2.4);
    let without = defaults(&[(0.0, endless), (2.0, r#"setcps(1); d1(s("~"))"#)], 2.4);
    let alone = defaults(&[(0.0, r#"setcps(1); d1(s("~ bd"))"#)], 1.4);
    assert_eq!(with_kick.dropped, 0, "no voice is refused");
    assert!(with_kick.stolen > 64, "old notes were stolen: {}", with_kick.stolen);
    assert!(with_kick.started > 320, "{}", with_kick.started);
    // The kick's contribution in its first 100 ms.
    let window = secs(2.0)..secs(2.1);
    let (a, b) = (with_kick.channel(0), without.channel(0));
    let diff: Vec<f32> = a[window.clone()].iter().zip(&b[window]).map(|(x, y)| x - y).collect();
    let kick = rms(&alone.channel(0)[secs(1.0)..secs(1.1)]);
    assert!(rms(&diff) > 0.2 * kick, "the kick is heard: {} vs {kick} alone", rms(&diff));
    // The old notes still ring (they were not all cut), and the mix stays under 0 dBFS.
    assert!(rms(&b[secs(2.2)..]) > 0.05);
    assert!(peak(&with_kick.samples) <= 1.0);
}

/// Caps are per track and overall, stolen voices are counted, and a stolen voice fades
/// out instead of being cut (no step larger than the waveforms' own).
#[test]
fn stealing_respects_the_caps_and_does_not_click() {
    let config = MixerConfig { max_voices: 12, max_voices_per_track: 4, ..MixerConfig::new(SR as f64) };
    let src = r#"setcps(1); d1(note("a3*16").s("sine").release(1e9).gain(0.2)); d2(note("a2*4").s("sine").release(1e9).gain(0.2))"#;
    let t = take(&[(0.0, src)], 2.0, config, VoiceLimits::default(), SampleLibrary::default());
    assert_eq!(t.dropped, 0);
    // d1 starts 32 notes and keeps 4 at a time; d2 starts 8 and keeps 4.
    assert_eq!(t.started, 40);
    assert_eq!(t.stolen, 28 + 4, "every start past a track's cap steals one voice");
    let x = t.channel(0);
    // Eight sines of at most 0.2 × 0.3 × 0.71 at 220 Hz or less move less than 0.006 a
    // sample; a cut voice would jump by up to 0.04.
    assert!(max_step(&x) < 0.01, "a stolen voice clicks: step {}", max_step(&x));
}

/// A sample at speed 0 is skipped with a warning (superdough does not play it); a very
/// slow one, and a note with an endless release, end at the longest note length.
#[test]
fn stalled_samples_and_endless_notes_end() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tone")).unwrap();
    write_sine_wav(&dir.path().join("tone").join("a.wav"), 440.0, 1.0, SR);
    let library = || SampleLibrary::scan(&[dir.path().to_path_buf()]);
    let limits = VoiceLimits { max_note: 1.0, ..VoiceLimits::default() };
    let config = MixerConfig::new(SR as f64);
    let stalled = take(&[(0.0, r#"setcps(0.25); d1(s("tone").speed(0))"#)], 1.0, config, limits, library());
    assert_eq!(stalled.started, 0);
    assert!(peak(&stalled.samples) == 0.0);
    assert!(stalled.warnings.iter().any(|w| w.contains("track d1") && w.contains("speed 0")), "{:?}", stalled.warnings);
    for src in [r#"setcps(0.25); d1(s("tone").speed(0.01))"#, r#"setcps(0.25); d1(note("a4").s("sine").release(1e9))"#]
    {
        let t = take(&[(0.0, src)], 2.0, config, limits, library());
        let x = t.channel(0);
        assert!(rms(&x[secs(0.5)..secs(0.9)]) > 1e-3, "{src}: it plays");
        // (What is left after 1 s is the master's DC blocker settling: gone in 0.2 s.)
        assert!(peak(&x[secs(1.2)..]) < 1e-4, "{src}: it ends at the longest note length");
        assert_eq!(t.stolen + t.dropped, 0);
    }
}

/// `s("bd*100000")` on one track: its excess events are skipped and reported once, and
/// the tone on another track sounds exactly as it does alone, in every 50 ms window.
#[test]
fn a_flooded_track_leaves_the_others_alone() {
    let tone = r#"setcps(1); d2(note("a4").s("sine").sustain(1).pan(1))"#;
    let flood = r#"setcps(1); d1(s("bd*100000").pan(0)); d2(note("a4").s("sine").sustain(1).pan(1))"#;
    let alone = render_src(tone, 2.0);
    let both = render_src(flood, 2.0);
    let (a, b) = (window_levels(&alone.channel(1), 0.0), window_levels(&both.channel(1), 0.0));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(db(*y, *x).abs() < 1.0, "window {i}: {x} alone, {y} beside the flood");
    }
    assert!(rms(&both.channel(0)) > 0.05, "the flooded track still plays");
    assert!(both.voices < 2 * 640 + 10, "{} voices started", both.voices);
    let skipped: Vec<_> = both.warnings.iter().filter(|w| w.contains("events skipped")).collect();
    assert_eq!(skipped.len(), 1, "{:?}", both.warnings);
    assert!(skipped[0].contains("track d1") && skipped[0].contains("64 notes in 100 ms"), "{}", skipped[0]);
    assert!(peak(&both.samples) <= 1.0);
    // The count is kept for the session's report.
    let t = defaults(&[(0.0, flood)], 1.0);
    assert!(t.skipped > 99_000, "{} skipped", t.skipped);
}

/// `gain(1e9)` on one track: the other track, in the middle of the same stereo field, is
/// unchanged within 1 dB in every 50 ms window, and the output never exceeds 0 dBFS.
/// With its reverb send wide open too, the mix stays finite and under 0 dBFS.
#[test]
fn a_hot_track_does_not_duck_the_others() {
    let wet = render_src(r#"d1(s("bd*8").gain(1e9).room(1e9).size(1)); d2(note("a4").s("sine"))"#, 2.0);
    assert!(peak(&wet.samples) <= 1.0 && wet.samples.iter().all(|x| x.is_finite()));
    let hot = r#"setcps(1); d1(note("c3 g2").s("saw").gain(1e9))"#;
    let normal = r#"setcps(1); d2(note("a4").s("sine").sustain(1))"#;
    let both = render_src(&format!("{hot}; {normal}"), 2.0);
    let hot_alone = render_src(hot, 2.0);
    let normal_alone = render_src(normal, 2.0);
    assert!(peak(&both.samples) <= 1.0 && both.samples.iter().all(|x| x.is_finite()));
    assert!(rms(&hot_alone.samples) > 0.1, "the hot track plays (limited)");
    for c in 0..2 {
        // What the normal track adds to the mix is what it plays alone.
        let (mix, h) = (both.channel(c), hot_alone.channel(c));
        let added: Vec<f32> = mix.iter().zip(&h).map(|(x, y)| x - y).collect();
        let (a, b) = (window_levels(&normal_alone.channel(c), 0.0), window_levels(&added, 0.0));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(db(*y, *x).abs() < 1.0, "channel {c} window {i}: {x} alone, {y} beside the hot track");
        }
    }
}

/// A voice blowing up (infinity) is silenced and counted; the track beside it plays on at
/// its own level.
#[test]
fn a_blown_up_voice_does_not_touch_the_other_tracks() {
    let hats = r#"d2(s("hh*8").pan(1))"#;
    let both = render_src(
        &format!(r#"instrument("boom", |freq| sine(freq) * 1e30 * 1e30); d1(note("[c3,e3]*2").s("boom")); {hats}"#),
        1.0,
    );
    let alone = render_src(hats, 1.0);
    assert!(both.blown_up >= 2, "{}", both.blown_up);
    assert!(both.samples.iter().all(|x| x.is_finite()));
    let (a, b) = (rms(&alone.channel(1)), rms(&both.channel(1)));
    assert!(db(b, a).abs() < 0.1, "{a} alone, {b} beside the blown-up track");
}
