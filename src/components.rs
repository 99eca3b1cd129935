//! One component per file.

pub mod backups;
pub mod counter_table;
pub mod imports;
pub mod message_board;
pub mod peer_list;
pub mod post_list;
pub mod questions;
pub mod requests_panel;
pub mod safe_mode;
pub mod session_view;
pub mod sessions;
pub mod this_tab;
pub mod timeline;

pub use backups::{BackupBanner, BackupsPanel};
pub use counter_table::CounterTable;
pub use imports::Imports;
pub use message_board::MessageBoard;
pub use peer_list::PeerList;
pub use post_list::PostList;
pub use questions::Questions;
pub use requests_panel::RequestsPanel;
pub use safe_mode::{ReadOnlyBanner, SafeModeBanner};
pub use session_view::SessionView;
pub use sessions::SessionsSidebar;
pub use this_tab::ThisTab;
pub use timeline::ElectionTimeline;
