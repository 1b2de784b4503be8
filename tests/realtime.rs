//! The audio side never allocates or frees: the mixer renders a busy patch (synths,
//! drums, instruments, filters, effects, cut groups) under `assert_no_alloc`.

use assert_no_alloc::{AllocDisabler, assert_no_alloc};
use rhaithm::dsp::samples::SampleLibrary;
use rhaithm::dsp::{MixerConfig, mixer};
use rhaithm::engine::Scheduler;
use rhaithm::patch::Patch;

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

#[test]
fn the_mixer_renders_without_allocating() {
    let src = r#"
        setbpm(140);
        instrument("pad", |freq| (saw(freq) + saw(freq * 1.01)) >> lowpass(900, 0.4) * 0.3);
        d1(s("bd*4, [~ sn]*2, hh*16, cr").cut("<0 1>").room(0.3));
        d2(note("c3 e3 g3 b3").s("<pad supersaw fm>").lpf(1200).hpf(100).delay(0.4).crush(8).orbit(1));
        d3(s("white").gain(0.1).coarse(4).shape(0.5).pan(sine));
    "#;
    let patch = Patch::compile(src, None).unwrap();
    let mut scheduler = Scheduler::new(&patch, 48000, SampleLibrary::default());
    let (mut handle, mut mixer) = mixer(MixerConfig::new(48000.0));
    let mut out = vec![0.0f32; 2 * 256];
    let mut frame = 0u64;
    for _ in 0..1500 {
        for v in scheduler.schedule(frame, frame + 256) {
            assert!(handle.send(v).is_ok());
        }
        assert_no_alloc(|| mixer.process(&mut out));
        handle.collect();
        frame += 256;
    }
    let stats = handle.stats();
    use std::sync::atomic::Ordering::Relaxed;
    assert!(stats.started.load(Relaxed) > 100, "{}", stats.started.load(Relaxed));
    assert_eq!(stats.leaked.load(Relaxed), 0);
}

/// The live-safety paths never allocate either: stealing (small caps), the per-track
/// stages limiting a hot track, a blown-up voice, a flood of starts, endless notes
/// ending at the longest note length.
#[test]
fn stealing_and_track_stages_without_allocating() {
    use rhaithm::dsp::VoiceLimits;
    let src = r#"
        setcps(1);
        instrument("boom", |freq| sine(freq) * 1e30 * 1e30);
        d1(s("bd*100000").gain(1e9).room(1e9));
        d2(note("c3*16").s("sine").release(1e9).legato(0.5));
        d3(note("[c3,e3,g3]*8").s("supersaw").gain(1e9).orbit(1).delay(1e9));
        d4(note("<c3 ~ ~ ~>").s("boom"));
        d5(note("a4").s("saw").attack(1e9).pan(sine));
    "#;
    let patch = Patch::compile(src, None).unwrap();
    let mut scheduler = Scheduler::new(&patch, 48000, SampleLibrary::default());
    scheduler.set_voice_limits(VoiceLimits { max_note: 0.5, ..VoiceLimits::default() });
    let config = MixerConfig { max_voices: 24, max_voices_per_track: 8, tracks: 4, ..MixerConfig::new(48000.0) };
    let (mut handle, mut mixer) = mixer(config);
    let mut out = vec![0.0f32; 2 * 256];
    let mut frame = 0u64;
    for i in 0..750 {
        for v in scheduler.schedule(frame, frame + 256) {
            assert!(handle.send(v).is_ok());
        }
        // Every tenth block, the overload guard sheds voices too.
        assert_no_alloc(|| {
            if i % 10 == 9 {
                let n = mixer.sounding().div_ceil(8);
                mixer.shed(n);
            }
            mixer.process(&mut out)
        });
        assert!(out.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
        handle.collect();
        frame += 256;
    }
    let stats = handle.stats();
    use std::sync::atomic::Ordering::Relaxed;
    assert!(stats.stolen.load(Relaxed) > 100, "{}", stats.stolen.load(Relaxed));
    assert!(stats.shed.load(Relaxed) > 0);
    assert!(stats.track_limited.load(Relaxed) > 0);
    assert!(stats.blown_up.load(Relaxed) > 0);
    assert!(scheduler.skipped_events() > 0);
    assert_eq!(stats.leaked.load(Relaxed), 0);
}

/// The real engine (control-side `Live`, audio-side `AudioCallback` with the recorder's
/// queue attached) goes through hundreds of version swaps, crossfades included, and the
/// callback never allocates or frees.
#[test]
fn hundreds_of_swaps_without_allocating() {
    use rhaithm::audio::{AudioCallback, AudioStatus, Recorder};
    use rhaithm::engine::Live;
    use rhaithm::patch::Quantize;

    let versions: Vec<Patch> = [
        r#"setcps(0.6); d1(s("bd*4, hh*8")); d2(note("c3 e3").s("saw").lpf(900).legato(1));"#,
        r#"setcps(0.6); d1(s("bd*4, hh*8")); d2(note("c3 g3").s("supersaw").lpf(1200).legato(1));"#,
        r#"setcps(0.7); d1(s("bd(3,8), cp")); d2(note("[c3,e3,g3]").s("sine").attack(0.2));
           instrument("pad", |f| saw(f) >> lowpass(800, 0.5) * 0.2); d3(note("c2").s("pad"));"#,
        r#"setcps(0.7); instrument("pad", |f| square(f) >> lowpass(600, 0.5) * 0.2);
           d3(note("c2 eb2").s("pad").room(0.4)); d4(s("white").gain(0.05).cut(1));"#,
        r#"hush();"#,
    ]
    .iter()
    .map(|s| Patch::compile(s, None).unwrap())
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let (recorder, producer) = Recorder::start(&dir.path().join("take.wav"), 48000).unwrap();
    let (handle, mixer) = mixer(MixerConfig::new(48000.0));
    let mut scheduler = Scheduler::empty(48000, SampleLibrary::default());
    scheduler.add_layer("a", &versions[0], 0);
    scheduler.add_layer("b", &versions[2], 0);
    let mut live = Live::new(scheduler, handle, 256 + 240);
    // A long lookahead, so that most reloads cancel queued voices and reschedule.
    live.set_lookahead(2400, 256 + 96);
    let mut callback = AudioCallback::new(mixer, Some(producer), AudioStatus::new());
    // The overload guard measures each callback (and may shed voices) without allocating.
    callback.guard_overload(true);
    let mut out = vec![0.0f32; 2 * 256];
    let (mut swaps, mut faded, mut started) = (0, 0, 0);
    for block in 0..6000u64 {
        for s in live.tick(callback.frame()) {
            swaps += 1;
            faded += s.faded;
            started += s.started;
        }
        if block.is_multiple_of(13) {
            let v = (block / 13) as usize;
            let q = if v.is_multiple_of(7) { Quantize::Cycle } else { Quantize::None };
            live.reload(v % 2, versions[(v * 3) % versions.len()].clone(), q, callback.frame());
        }
        assert_no_alloc(|| callback.render(&mut out, 2));
        // Let the recorder's writer keep up, as it does in real time.
        if block.is_multiple_of(64) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    drop(callback);
    recorder.finish().unwrap();
    assert!(swaps >= 300, "only {swaps} swaps");
    let stats = live.handle().stats();
    use std::sync::atomic::Ordering::Relaxed;
    assert!(stats.started.load(Relaxed) > 500, "{} voices started", stats.started.load(Relaxed));
    assert!(faded > 100 && started > 100, "{faded} notes faded out, {started} faded in");
    assert_eq!(stats.leaked.load(Relaxed), 0);
    assert_eq!(stats.late.load(Relaxed), 0);
    assert_eq!(stats.commands_dropped.load(Relaxed), 0);
}

/// Steering while playing: mutes, pauses, resumes, tempo changes, nudges and panics go
/// through the real control side while the callback renders (meters and oscilloscope
/// tap included, read by another thread as the UI reads them), and the callback never
/// allocates or frees.
#[test]
fn steering_meters_and_the_scope_tap_without_allocating() {
    use rhaithm::audio::{AudioCallback, AudioStatus};
    use rhaithm::engine::Live;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

    let patch = Patch::compile(
        r#"setcps(0.6); d1(s("bd*4, hh*8").room(0.3)); d2(note("c3 e3").s("saw").lpf(900).legato(1).delay(0.3));"#,
        None,
    )
    .unwrap();
    let (handle, mixer) = mixer(MixerConfig::new(48000.0));
    let mut scheduler = Scheduler::empty(48000, SampleLibrary::default());
    scheduler.add_layer("a", &patch, 0);
    let mut live = Live::new(scheduler, handle, 256 + 240);
    live.set_lookahead(256 + 960, 256 + 96);
    let status = AudioStatus::new();
    let mut callback = AudioCallback::new(mixer, None, status.clone());
    // The UI's side: reads the meters and the scope as fast as it likes.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (status, done) = (status.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut scope, mut loudest) = (Vec::new(), 0.0f32);
            while !done.load(Relaxed) {
                status.meter.scope(&mut scope, 2048);
                loudest = loudest.max(status.meter.take_peak()[0]).max(scope.iter().fold(0.0, |m, x| m.max(x.abs())));
                std::thread::yield_now();
            }
            loudest
        })
    };
    let mut out = vec![0.0f32; 2 * 256];
    let mut paused_blocks = 0;
    for block in 0..4000u64 {
        live.tick(callback.frame());
        let now = callback.frame();
        match block % 400 {
            50 => {
                live.mute(0, true);
            }
            90 => {
                live.mute(0, false);
                live.mute(1, true);
            }
            130 => {
                live.mute(1, false);
            }
            170 => {
                live.pause(now);
            }
            230 => {
                live.resume(now);
            }
            270 => {
                live.steer(now, |clock, at| clock.set_cps(at, 0.5 + (block % 3) as f64 * 0.1));
            }
            330 => live.panic(now),
            _ => {}
        }
        if live.paused().is_some() {
            paused_blocks += 1;
        }
        assert_no_alloc(|| callback.render(&mut out, 2));
        let _ = live.take_onsets();
    }
    done.store(true, Relaxed);
    let loudest = reader.join().unwrap();
    assert!(loudest > 0.05, "the meters and the scope saw the output: {loudest}");
    assert!(paused_blocks >= 500, "{paused_blocks} blocks paused");
    let stats = live.handle().stats();
    assert_eq!(stats.commands_dropped.load(Relaxed), 0);
    assert_eq!(stats.leaked.load(Relaxed), 0);
    assert!(stats.started.load(Relaxed) > 100, "{} voices", stats.started.load(Relaxed));
}
