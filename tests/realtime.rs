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
