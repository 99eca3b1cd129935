//! Mounts the Conclave app on the page body.

fn main() {
    // A panic in wasm kills the tab: at least say why in the console.
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(conclave::App);
}
