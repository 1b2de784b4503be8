//! The terminal while the UI is up: raw mode, the alternate screen, the cursor hidden;
//! all of it restored when the guard is dropped, and by a panic on the UI thread before
//! its message prints. Nothing else may write to the terminal meanwhile.

use std::cell::Cell;
use std::io::{self, Stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::App;

/// True while the terminal is in the UI's state.
static ACTIVE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// True on the thread that runs the UI.
    static UI_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// The terminal, set up for the UI until dropped.
pub struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen and hides the cursor (and installs the
    /// panic hook that undoes it). On failure, the terminal is left as it was.
    pub fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        UI_THREAD.with(|u| u.set(true));
        let set_up = execute!(io::stdout(), EnterAlternateScreen, Hide)
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())))
            .and_then(|mut terminal| terminal.clear().map(|()| terminal));
        match set_up {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }

    /// Draws the app (only the cells that changed since the last frame are written).
    pub fn draw(&mut self, app: &App) -> io::Result<()> {
        self.terminal.draw(|frame| frame.render_widget(app, frame.area()))?;
        Ok(())
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
        UI_THREAD.with(|u| u.set(false));
    }
}

/// Puts the terminal back (once; later calls do nothing).
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
    }
}

/// A panic on the UI thread restores the terminal before the previous hook prints its
/// message. Panics elsewhere go to the previous hook only: the session catches and
/// reports its own (some quietly, see `pattern::budget`), and the UI stops when the
/// session does.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if UI_THREAD.with(Cell::get) {
                restore();
            }
            previous(info);
        }));
    });
}
