//! Version swaps, measured: the real control side (`Live`) and audio side
//! (`AudioCallback`) driven block by block, faster than real time, with swaps at chosen
//! frames. The end-to-end run through cpal at real-time pace is in `tests/jack.rs`.

mod audio;

use audio::{SR, channel, check_crossfade, max_step, onsets, peak_hz, rms, secs, tone};
use rhaithm::audio::{AudioCallback, AudioStatus};
use rhaithm::dsp::samples::SampleLibrary;
use rhaithm::dsp::{MixerConfig, mixer};
use rhaithm::engine::Live;
use rhaithm::engine::scheduler::{Scheduler, Swap};
use rhaithm::patch::{Patch, Quantize};

const BLOCK: usize = 256;

fn compile(src: &str) -> Patch {
    Patch::compile(src, None).unwrap_or_else(|e| panic!("{e}"))
}

/// The real control and audio sides, one layer per source, scheduling `lookahead` frames
/// ahead and reloading `min_ahead` frames past the audio thread.
fn rig(layers: &[&str], lookahead: u64, min_ahead: u64) -> (Live, AudioCallback) {
    let mut scheduler = Scheduler::empty(SR, SampleLibrary::default());
    for (i, src) in layers.iter().enumerate() {
        scheduler.add_layer(&format!("layer{i}"), &compile(src), 0);
    }
    let (handle, mixer) = mixer(MixerConfig::new(SR as f64));
    let mut live = Live::new(scheduler, handle, lookahead);
    live.set_lookahead(lookahead, min_ahead);
    (live, AudioCallback::new(mixer, None, AudioStatus::new()))
}

/// Plays `first`, swapping in each `(frame, source)` at exactly that frame, for
/// `seconds`; returns the interleaved output and the swaps as applied.
fn play(first: &str, swaps: &[(u64, &str)], seconds: f64) -> (Vec<f32>, Vec<Swap>) {
    let (mut live, mut callback) = rig(&[first], 2 * BLOCK as u64, 2 * BLOCK as u64);
    let frames = (seconds * SR as f64) as usize / BLOCK * BLOCK;
    let mut out = vec![0.0f32; 2 * frames];
    let mut applied = Vec::new();
    let mut next = 0;
    for block in out.chunks_mut(2 * BLOCK) {
        if next < swaps.len() && applied.len() == next {
            live.scheduler_mut().stage(0, compile(swaps[next].1), swaps[next].0);
            next += 1;
        }
        applied.extend(live.tick(callback.frame()));
        callback.render(block, 2);
    }
    let stats = live.handle().stats();
    assert_eq!(stats.late.load(std::sync::atomic::Ordering::Relaxed), 0, "voices started late");
    (out, applied)
}

#[test]
fn held_notes_crossfade_into_the_new_version_at_the_swap_frame() {
    let at = secs(1.37) as u64;
    let (out, swaps) = play(&tone("a4"), &[(at, &tone("e5"))], 3.0);
    assert_eq!(swaps.len(), 1);
    let s = &swaps[0];
    assert_eq!((s.frame, s.faded, s.kept, s.started), (at, 1, 0, 1), "{s:?}");
    check_crossfade(&channel(&out, 1), at as usize, 440.0, 659.26);
}

#[test]
fn changing_a_held_notes_timbre_crossfades_in_phase() {
    // The same note with another cutoff: the new voice runs its oscillator up to the
    // swap, so the two versions are in phase and the crossfade neither cancels nor dips.
    let v = |cutoff: u32| {
        format!(r#"setcps(0.5); d1(note("a3").s("saw").lpf({cutoff}).attack(0.005).sustain(1).release(0.02));"#)
    };
    let at = secs(1.37);
    let (out, swaps) = play(&v(600), &[(at as u64, &v(2400))], 2.0);
    assert_eq!((swaps[0].faded, swaps[0].started), (1, 1));
    let right = channel(&out, 1);
    let fade = secs(0.05);
    let before = rms(&right[at - secs(0.2)..at]);
    let after = rms(&right[at + fade..at + fade + secs(0.2)]);
    let (c0, c1) =
        (audio::centroid(&right[at - secs(0.2)..at]), audio::centroid(&right[at + fade..at + fade + secs(0.2)]));
    assert!(c1 > c0 * 1.5, "brighter after the swap: {c0} Hz -> {c1} Hz");
    let before = before.min(after);
    // Windows of two periods of the 220 Hz note.
    for w in right[at..at + fade].chunks_exact(secs(2.0 / 220.0)) {
        assert!(rms(w) > 0.9 * before, "the level dipped to {} (before {before})", rms(w));
    }
}

#[test]
fn without_a_crossfade_the_swap_would_jump() {
    // The measure above can fail: a hard cut between the same two tones jumps.
    let at = secs(1.37);
    let (a, _) = play(&tone("a4"), &[], 3.0);
    let (b, _) = play(&tone("e5"), &[], 3.0);
    let mut spliced = channel(&a, 1)[..at].to_vec();
    spliced.extend_from_slice(&channel(&b, 1)[at..]);
    let reference = max_step(&spliced[at - secs(0.3)..at - secs(0.01)]);
    let across = max_step(&spliced[at - secs(0.01)..at + secs(0.06)]);
    assert!(across > reference * 1.5, "a hard cut steps {across}, the waveform {reference}");
}

#[test]
fn the_beat_grid_is_unbroken_across_swaps() {
    let swaps = [(secs(0.61) as u64, tone("e5")), (secs(1.13) as u64, tone("c5")), (secs(2.9) as u64, tone("g4"))];
    let swaps: Vec<(u64, &str)> = swaps.iter().map(|(f, s)| (*f, s.as_str())).collect();
    let (out, applied) = play(&tone("a4"), &swaps, 4.0);
    assert_eq!(applied.len(), 3);
    let left = channel(&out, 0);
    let found = onsets(&left, 0.02, 0.05);
    let expected: Vec<f64> = (0..16).map(|k| k as f64 * 0.25).collect();
    assert_eq!(found.len(), expected.len(), "onsets {found:?}");
    for (f, e) in found.iter().zip(&expected) {
        assert!((f - e).abs() < 0.002, "onset at {f} s, expected {e} s: {found:?}");
    }
}

#[test]
fn a_note_the_new_version_also_plays_is_not_restarted() {
    // Only the hats change; the held tone and the reverb tail carry on untouched.
    let v1 = r#"setcps(1); d1(s("hh*4").pan(0).room(0.6)); d2(note("a3").s("saw").lpf(900).pan(1).room(0.6));"#;
    let v2 = r#"setcps(1); d1(s("hh*8").pan(0).room(0.6)); d2(note("a3").s("saw").lpf(900).pan(1).room(0.6));"#;
    let at = secs(0.4) as u64;
    let (swapped, applied) = play(v1, &[(at, v2)], 0.9);
    assert_eq!((applied[0].kept, applied[0].faded, applied[0].started), (1, 0, 0));
    let (plain, _) = play(v1, &[], 0.9);
    // Until the first new hat at 0.5 s, everything is exactly as if no swap happened.
    let until = 2 * secs(0.5);
    assert_eq!(&swapped[..until], &plain[..until]);
}

#[test]
fn one_shots_ring_out_after_a_swap() {
    let v1 = r#"setcps(0.5); d1(s("cr").gain(0.8));"#;
    let at = secs(0.2) as u64;
    let (swapped, applied) = play(v1, &[(at, "hush();")], 1.5);
    assert_eq!((applied[0].faded, applied[0].started), (0, 0));
    let (plain, _) = play(v1, &[], 1.5);
    assert_eq!(swapped, plain, "the crash cymbal's tail was touched");
    assert!(rms(&swapped[2 * secs(0.5)..2 * secs(0.8)]) > 0.001);
}

#[test]
fn a_tempo_change_keeps_the_cycle_position() {
    let v1 = r#"setcps(0.5); d1(s("hh*4"));"#;
    let v2 = r#"setcps(1); d1(s("hh*4"));"#;
    // At 1.1 s the cycle is at 0.55; the next beat (0.75) comes 0.2 s later at cps 1.
    let (out, _) = play(v1, &[(secs(1.1) as u64, v2)], 2.0);
    let found = onsets(&channel(&out, 0), 0.02, 0.05);
    let expected = [0.0, 0.5, 1.0, 1.3, 1.55, 1.8];
    assert_eq!(found.len(), expected.len(), "{found:?}");
    for (f, e) in found.iter().zip(expected) {
        assert!((f - e).abs() < 0.002, "{found:?}");
    }
}

#[test]
fn quantized_reloads_wait_for_the_next_cycle_or_bar() {
    let src = r#"setcps(1); d1(s("hh*4"));"#;
    let v = compile(src);
    let (mut live, _callback) = rig(&[src], 512, 512);
    live.tick(secs(1.3) as u64);
    let now = secs(1.3) as u64;
    assert_eq!(live.reload(0, v.clone(), Quantize::None, now), live.scheduled_to());
    assert_eq!(live.reload(0, v.clone(), Quantize::Cycle, now), secs(2.0) as u64);
    assert_eq!(live.reload(0, v.clone(), Quantize::Bar, now), secs(4.0) as u64);
    live.tick(secs(4.0) as u64 - 600);
    let swaps = live.tick(secs(4.0) as u64 - 100);
    assert_eq!(swaps.len(), 1);
    assert_eq!(swaps[0].frame, secs(4.0) as u64);
}

#[test]
fn preloaded_samples_are_shared_with_the_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tone")).unwrap();
    audio::write_sine_wav(&dir.path().join("tone").join("a.wav"), 440.0, 0.2, 44100);
    audio::write_sine_wav(&dir.path().join("tone").join("b.wav"), 660.0, 0.2, 44100);
    let library = SampleLibrary::scan(&[dir.path().to_path_buf()]);
    let for_scheduler = library.clone();
    let patch = compile(r#"d1(s("tone:1 ~"))"#);
    let used = rhaithm::engine::check::sounds_used(&patch, rhaithm::pattern::Rational::ZERO, 4);
    assert!(used.contains("tone"));
    assert_eq!(library.preload("tone"), 2);
    // Decoded once, on the preloading side; the other clone gets the same data.
    let a = library.get("tone", 1).unwrap().unwrap();
    let b = for_scheduler.get("tone", 1).unwrap().unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
}

/// With a long lookahead (100 ms queued for safety), a reload still takes effect one
/// short step past the audio thread: the layer's queued voices are cancelled and
/// scheduled again from the new version, with no hit doubled or lost.
#[test]
fn reloads_do_not_wait_for_the_lookahead() {
    let (mut live, mut callback) = rig(&[&tone("a4")], 4800, 512);
    let frames = secs(3.0) / BLOCK * BLOCK;
    let mut out = vec![0.0f32; 2 * frames];
    // Just before a hat (at 1.5 s) that is already queued.
    let asked = secs(1.45) as u64 / BLOCK as u64 * BLOCK as u64;
    let mut at = None;
    let mut swaps = Vec::new();
    for block in out.chunks_mut(2 * BLOCK) {
        if callback.frame() == asked {
            at = Some(live.reload(0, compile(&tone("e5")), Quantize::None, callback.frame()));
        }
        swaps.extend(live.tick(callback.frame()));
        callback.render(block, 2);
    }
    let at = at.unwrap();
    // One short step (plus a moment to bring the new held note up to phase).
    assert!(at >= asked + 512 && at <= asked + 512 + secs(0.004) as u64, "the swap waited: {at} for {asked}");
    assert_eq!(swaps.len(), 1);
    assert_eq!(swaps[0].frame, at);
    let stats = live.handle().stats();
    assert_eq!(stats.late.load(std::sync::atomic::Ordering::Relaxed), 0);
    let right = channel(&out, 1);
    let at = at as usize;
    assert!((peak_hz(&right[at - secs(0.3)..at]) - 440.0).abs() < 2.0);
    assert!((peak_hz(&right[at + secs(0.06)..at + secs(0.36)]) - 659.26).abs() < 2.0);
    let reference =
        max_step(&right[at - secs(0.3)..at - secs(0.01)]).max(max_step(&right[at + secs(0.06)..at + secs(0.36)]));
    assert!(max_step(&right[at - secs(0.01)..at + secs(0.06)]) <= reference * 1.05);
    // The hats queued beyond the swap were cancelled and scheduled again: one per beat.
    let found = onsets(&channel(&out, 0), 0.02, 0.05);
    assert_eq!(found.len(), 12, "{found:?}");
    for (k, t) in found.iter().enumerate() {
        assert!((t - k as f64 * 0.25).abs() < 0.002, "{found:?}");
    }
    let left = channel(&out, 0);
    let peaks: Vec<f32> = found.iter().map(|t| audio::peak(&left[secs(*t)..secs(*t + 0.05)])).collect();
    let (lo, hi) = (peaks.iter().cloned().fold(f32::MAX, f32::min), peaks.iter().cloned().fold(0.0, f32::max));
    // Seeded noise hats vary by about 10%; a doubled one would be near twice as loud.
    assert!(hi < lo * 1.35, "a hat was doubled: {peaks:?}");
}

/// A reload that changes the tempo early moves every layer's queued voices, not only
/// its own: the other file's hats follow the new tempo from the swap, none doubled.
#[test]
fn an_early_tempo_change_moves_every_layer() {
    let a = r#"setcps(0.5); d1(note("a4").s("sine").pan(1));"#;
    let (mut live, mut callback) = rig(&[a, r#"d1(s("hh*4").pan(0));"#], 4800, 512);
    let frames = secs(2.5) / BLOCK * BLOCK;
    let mut out = vec![0.0f32; 2 * frames];
    let asked = secs(1.45) as u64 / BLOCK as u64 * BLOCK as u64;
    let mut at = 0;
    for block in out.chunks_mut(2 * BLOCK) {
        if callback.frame() == asked {
            at = live.reload(0, compile(r#"setcps(1); d1(note("a4").s("sine").pan(1));"#), Quantize::None, asked);
        }
        live.tick(callback.frame());
        callback.render(block, 2);
    }
    assert!(at >= asked + 512 && at <= asked + 512 + secs(0.004) as u64, "{at} for {asked}");
    // The cycle at the swap, then beats every quarter cycle at the new tempo.
    let c = (at as f64 / SR as f64) * 0.5;
    let next = at as f64 / SR as f64 + (0.75 - c);
    let mut expected = vec![0.0, 0.5, 1.0];
    expected.extend((0..5).map(|k| next + k as f64 * 0.25));
    let found = onsets(&channel(&out, 0), 0.02, 0.05);
    assert_eq!(found.len(), expected.len(), "{found:?} vs {expected:?}");
    for (f, e) in found.iter().zip(&expected) {
        assert!((f - e).abs() < 0.002, "{found:?} vs {expected:?}");
    }
}

/// A swap quantized to the bar lands on the bar even when the other file changes the
/// tempo before it gets there.
#[test]
fn a_bar_quantized_swap_stays_on_the_bar_across_another_files_tempo_change() {
    let a = r#"setcps(1); d1(s("hh*4"));"#;
    let b = r#"d2(s("bd"));"#;
    let (mut live, mut callback) = rig(&[a, b], 512, 512);
    let mut block = vec![0.0f32; 2 * BLOCK];
    let mut swaps = Vec::new();
    let mut asked_tempo = false;
    live.tick(0);
    // At 0.3 s, file b asks for the next bar (cycle 4, 4 s away at 1 cps).
    while callback.frame() < secs(0.3) as u64 {
        swaps.extend(live.tick(callback.frame()));
        callback.render(&mut block, 2);
    }
    live.reload(1, compile(r#"d2(s("sn"));"#), Quantize::Bar, callback.frame());
    // At 1.5 s (cycle 1.5), file a doubles the tempo: cycle 4 is now at 1.5 + 2.5 / 2 s.
    while callback.frame() < secs(3.5) as u64 {
        if !asked_tempo && callback.frame() >= secs(1.5) as u64 {
            live.reload(0, compile(r#"setcps(2); d1(s("hh*4"));"#), Quantize::None, callback.frame());
            asked_tempo = true;
        }
        swaps.extend(live.tick(callback.frame()));
        callback.render(&mut block, 2);
    }
    let bar = swaps.iter().find(|s| s.layer == 1).expect("file b swapped");
    let cycle = live.scheduler().clock().cycle_at(bar.frame);
    assert_eq!(cycle, rhaithm::pattern::Rational::int(4), "swap at frame {} is cycle {cycle}", bar.frame);
}
