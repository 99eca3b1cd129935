//! One component per file.

pub mod counter_table;
pub mod message_board;
pub mod peer_list;
pub mod safe_mode;
pub mod this_tab;

pub use counter_table::CounterTable;
pub use message_board::MessageBoard;
pub use peer_list::PeerList;
pub use safe_mode::SafeModeBanner;
pub use this_tab::ThisTab;
