//! Where a match's game server runs: the seam between the match lifecycle
//! ([`crate::matches`]) and the machine or cluster that hosts servers.
//!
//! A host allocates a server for a game version and returns once it is
//! ready (accepting connections), with the port players connect to; the
//! server reports its health, ends on its own with an outcome, or is
//! stopped. The local [`crate::game_manager::GameManager`] is today's only
//! host; docs/SCALING.md describes how an Agones or Nomad host would
//! implement the same two traits.

use std::future::Future;

use crate::game_manager::{GameManager, GameProcess, MatchExit, MatchSpec, StartError};

/// Something that can run game servers.
pub trait GameHost: Send + Sync {
    type Server: HostedServer;

    /// Allocates and starts a server for `spec` (a game version, its
    /// players and token); resolves once it accepts connections, or with
    /// why it could not start.
    fn allocate(
        &self,
        spec: &MatchSpec,
    ) -> impl Future<Output = Result<Self::Server, StartError>> + Send;
}

/// One allocated game server.
pub trait HostedServer: Send {
    /// The port players' game clients connect to.
    fn port(&self) -> u16;

    /// False once the server has died or stopped answering.
    fn healthy(&mut self) -> bool;

    /// Waits for the match to end and returns its outcome; when `stop`
    /// resolves first (with a reason), stops the server and reports the
    /// match aborted.
    fn finish(
        &mut self,
        stop: impl Future<Output = String> + Send,
    ) -> impl Future<Output = MatchExit> + Send;
}

impl GameHost for std::sync::Arc<GameManager> {
    type Server = GameProcess;

    fn allocate(
        &self,
        spec: &MatchSpec,
    ) -> impl Future<Output = Result<GameProcess, StartError>> + Send {
        self.start(spec)
    }
}

impl HostedServer for GameProcess {
    fn port(&self) -> u16 {
        self.port.port
    }

    fn healthy(&mut self) -> bool {
        self.running()
    }

    fn finish(
        &mut self,
        stop: impl Future<Output = String> + Send,
    ) -> impl Future<Output = MatchExit> + Send {
        self.wait_unless(stop)
    }
}
