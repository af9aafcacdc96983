//! Rate limits: sliding windows per key, and the failure throttle in front
//! of every credential check.
//!
//! A [`Windows`] map allows at most `limit` events per key in any span of
//! `window` (a true sliding window: the events themselves are kept, so no
//! burst fits across a boundary). A [`Throttle`] counts failed credential
//! attempts the same way and, once a key has used its budget, blocks it for
//! a span that doubles with every further block (one window, then 2, 4, 8,
//! 16). For an account name it reserves each attempt before the check runs
//! ([`Throttle::attempt`], so a thousand simultaneous guesses cannot all
//! slip past the count) and forgives the ones that succeed; for an address,
//! which many people may share, it counts failures only
//! ([`Throttle::check`], [`Throttle::fail`]).
//!
//! Both are in memory and bounded: at most [`MAX_KEYS`] keys, idle keys
//! pruned first. A restart forgets them; see docs/ARCHITECTURE.md.
//!
//! Every check has an `_at(now)` form, so tests drive time themselves.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most keys one limiter remembers.
pub(crate) const MAX_KEYS: usize = 100_000;

/// A limit: `limit` events per `window`. `limit` 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    pub limit: u32,
    pub window: Duration,
}

impl Rate {
    pub(crate) const fn per(limit: u32, window: Duration) -> Rate {
        Rate { limit, window }
    }

    fn unlimited(&self) -> bool {
        self.limit == 0
    }
}

/// Event times of one key within the window, oldest first.
#[derive(Debug, Default)]
struct Window {
    events: VecDeque<Instant>,
}

impl Window {
    fn prune(&mut self, now: Instant, window: Duration) {
        while self.events.front().is_some_and(|t| now.saturating_duration_since(*t) >= window) {
            self.events.pop_front();
        }
    }

    /// When the next event would be allowed, if not now.
    fn wait(&self, now: Instant, rate: Rate) -> Option<Duration> {
        if (self.events.len() as u32) < rate.limit {
            return None;
        }
        let oldest = self.events[self.events.len() - rate.limit as usize];
        Some((oldest + rate.window).saturating_duration_since(now).max(Duration::from_millis(1)))
    }
}

/// Sliding windows per key.
#[derive(Debug)]
pub(crate) struct Windows<K> {
    rate: Rate,
    keys: Mutex<HashMap<K, Window>>,
}

impl<K: Eq + Hash + Clone> Windows<K> {
    pub(crate) fn new(rate: Rate) -> Windows<K> {
        Windows { rate, keys: Mutex::new(HashMap::new()) }
    }

    /// Records an event for `key` now, or says how long until one is allowed.
    pub(crate) fn hit(&self, key: &K) -> Result<Hit<K>, Duration> {
        self.hit_at(key, Instant::now())
    }

    pub(crate) fn hit_at(&self, key: &K, now: Instant) -> Result<Hit<K>, Duration> {
        if self.rate.unlimited() {
            return Ok(Hit { key: None, at: now });
        }
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        make_room(&mut keys, now, self.rate.window, |w| w.events.is_empty());
        let window = keys.entry(key.clone()).or_default();
        window.prune(now, self.rate.window);
        if let Some(wait) = window.wait(now, self.rate) {
            return Err(wait);
        }
        window.events.push_back(now);
        Ok(Hit { key: Some(key.clone()), at: now })
    }

    /// Takes back an event recorded by [`Windows::hit`] (the action it
    /// guarded did not happen).
    pub(crate) fn forgive(&self, hit: Hit<K>) {
        let Some(key) = hit.key else { return };
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(window) = keys.get_mut(&key)
            && let Some(i) = window.events.iter().rposition(|t| *t == hit.at)
        {
            window.events.remove(i);
        }
    }
}

/// One recorded event, for [`Windows::forgive`] or [`Throttle::forgive`].
#[derive(Debug)]
#[must_use = "keep the hit to forgive it, or drop it to let it count"]
pub(crate) struct Hit<K> {
    key: Option<K>,
    at: Instant,
}

/// Keeps a map under [`MAX_KEYS`]: drops keys `idle` says are done, and if
/// that is not enough, the whole map but blocked keys (a flood of new keys
/// then resets old counts, never refuses everyone).
fn make_room<K, V>(
    keys: &mut HashMap<K, V>,
    now: Instant,
    window: Duration,
    idle: impl Fn(&V) -> bool,
) where
    K: Eq + Hash,
    V: Prunable,
{
    if keys.len() < MAX_KEYS {
        return;
    }
    keys.retain(|_, v| {
        v.prune_all(now, window);
        !idle(v)
    });
    if keys.len() >= MAX_KEYS {
        keys.retain(|_, v| v.blocked(now));
    }
    if keys.len() >= MAX_KEYS {
        keys.clear();
    }
}

trait Prunable {
    fn prune_all(&mut self, now: Instant, window: Duration);
    fn blocked(&self, _now: Instant) -> bool {
        false
    }
}

impl Prunable for Window {
    fn prune_all(&mut self, now: Instant, window: Duration) {
        self.prune(now, window);
    }
}

/// Blocks double up to this many windows.
const MAX_BLOCK_DOUBLINGS: u32 = 4;

/// A key's credential attempts.
#[derive(Debug, Default)]
struct Attempts {
    window: Window,
    /// Blocks so far; each one doubles the next.
    strikes: u32,
    blocked_until: Option<Instant>,
}

impl Prunable for Attempts {
    fn prune_all(&mut self, now: Instant, window: Duration) {
        self.window.prune(now, window);
        // A key quiet for a long while starts over.
        if self.blocked_until.is_some_and(|until| {
            now.saturating_duration_since(until) >= window * (1 << MAX_BLOCK_DOUBLINGS)
        }) {
            self.blocked_until = None;
            self.strikes = 0;
        }
    }

    fn blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|until| until > now)
    }
}

/// Failed-attempt throttle for credentials, per key (an account name or a
/// source address).
#[derive(Debug)]
pub(crate) struct Throttle<K> {
    rate: Rate,
    keys: Mutex<HashMap<K, Attempts>>,
}

impl<K: Eq + Hash + Clone> Throttle<K> {
    pub(crate) fn new(rate: Rate) -> Throttle<K> {
        Throttle { rate, keys: Mutex::new(HashMap::new()) }
    }

    /// Reserves one attempt for `key`: counted as a failure unless
    /// [`Throttle::forgive`]n, and counted from now, so that simultaneous
    /// attempts cannot all pass before any has failed. For keys many
    /// legitimate clients share at once (an address), use
    /// [`Throttle::check`] and [`Throttle::fail`] instead. `Err` is how long
    /// the key stays blocked.
    pub(crate) fn attempt(&self, key: &K) -> Result<Hit<K>, Duration> {
        self.attempt_at(key, Instant::now())
    }

    pub(crate) fn attempt_at(&self, key: &K, now: Instant) -> Result<Hit<K>, Duration> {
        self.admit(key, now, true)
    }

    /// Whether `key` may try now, without counting anything: only
    /// [`Throttle::fail`] counts. `Err` is how long the key stays blocked.
    pub(crate) fn check(&self, key: &K) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    pub(crate) fn check_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        self.admit(key, now, false).map(|_| ())
    }

    /// Counts a failed attempt for `key` (after [`Throttle::check`]).
    pub(crate) fn fail(&self, key: &K) {
        self.fail_at(key, Instant::now())
    }

    pub(crate) fn fail_at(&self, key: &K, now: Instant) {
        if self.rate.unlimited() {
            return;
        }
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        make_room(&mut keys, now, self.rate.window, |a| {
            a.window.events.is_empty() && a.blocked_until.is_none()
        });
        keys.entry(key.clone()).or_default().window.events.push_back(now);
    }

    fn admit(&self, key: &K, now: Instant, reserve: bool) -> Result<Hit<K>, Duration> {
        if self.rate.unlimited() {
            return Ok(Hit { key: None, at: now });
        }
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        make_room(&mut keys, now, self.rate.window, |a| {
            a.window.events.is_empty() && a.blocked_until.is_none()
        });
        let attempts = keys.entry(key.clone()).or_default();
        attempts.prune_all(now, self.rate.window);
        if let Some(until) = attempts.blocked_until
            && until > now
        {
            return Err(until - now);
        }
        if (attempts.window.events.len() as u32) >= self.rate.limit {
            let block = self.rate.window * (1 << attempts.strikes.min(MAX_BLOCK_DOUBLINGS));
            attempts.strikes += 1;
            attempts.blocked_until = Some(now + block);
            // The budget starts afresh once the block is over.
            attempts.window.events.clear();
            return Err(block);
        }
        if !reserve {
            return Ok(Hit { key: None, at: now });
        }
        attempts.window.events.push_back(now);
        Ok(Hit { key: Some(key.clone()), at: now })
    }

    /// The attempt succeeded: it does not count.
    pub(crate) fn forgive(&self, hit: Hit<K>) {
        let Some(key) = hit.key else { return };
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(attempts) = keys.get_mut(&key)
            && let Some(i) = attempts.window.events.iter().rposition(|t| *t == hit.at)
        {
            attempts.window.events.remove(i);
        }
    }
}

/// An account name as the login throttle counts it: its kind and its
/// lowercase name (bounded), whether or not the account exists.
pub(crate) type AccountKey = (gamestore_storage::Role, String);

pub(crate) fn account_key(role: gamestore_storage::Role, name: &str) -> AccountKey {
    (role, name.chars().take(64).collect::<String>().to_lowercase())
}

/// The lobby's limiters, built from its configuration.
#[derive(Debug)]
pub(crate) struct Limiters {
    /// Failed LOGIN/DEV_LOGIN per account name.
    pub login_by_account: Throttle<AccountKey>,
    /// Failed LOGIN/DEV_LOGIN/RESUME per source address.
    pub login_by_address: Throttle<IpAddr>,
    /// REGISTER/DEV_REGISTER per source address.
    pub registrations: Windows<IpAddr>,
    /// CHAT_SEND per account.
    pub chat: Windows<gamestore_storage::AccountId>,
    /// PLUGIN_SEND per account, a budget of its own beside chat's.
    pub plugin: Windows<gamestore_storage::AccountId>,
}

/// Chat: this many messages per [`CHAT_WINDOW`] per account.
pub(crate) const CHAT_BURST: u32 = 10;
pub(crate) const CHAT_WINDOW: Duration = Duration::from_secs(10);
/// Plugin messages: this many per [`CHAT_WINDOW`] per account.
pub(crate) const PLUGIN_BURST: u32 = 20;

impl Limiters {
    pub(crate) fn new(limits: &crate::config::Limits) -> Limiters {
        const MINUTE: Duration = Duration::from_secs(60);
        Limiters {
            login_by_account: Throttle::new(Rate::per(limits.login_failures_per_account, MINUTE)),
            login_by_address: Throttle::new(Rate::per(limits.login_failures_per_address, MINUTE)),
            registrations: Windows::new(Rate::per(
                limits.registrations_per_address,
                Duration::from_secs(3600),
            )),
            chat: Windows::new(Rate::per(CHAT_BURST, CHAT_WINDOW)),
            plugin: Windows::new(Rate::per(PLUGIN_BURST, CHAT_WINDOW)),
        }
    }
}

/// RATE_LIMITED with the wait in the message and in `retry_after`.
pub(crate) fn rate_limited(what: &str, wait: Duration) -> gamestore_protocol::WireError {
    let secs = retry_secs(wait);
    gamestore_protocol::WireError::new(
        gamestore_protocol::ErrorCode::RateLimited,
        format!("{what}; try again in {secs} s"),
    )
    .with_retry_after(secs)
}

/// The key for limits per source address: the IPv4 address, or the /64 an
/// IPv6 address belongs to (one subscriber usually holds a whole /64).
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

/// Whole seconds to tell a client to wait, at least 1.
pub(crate) fn retry_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn no_burst_fits_across_a_window_boundary() {
        let chat = Windows::new(Rate::per(10, 10 * SEC));
        let start = Instant::now();
        // Ten messages at the very end of one window…
        let late = start + 9 * SEC + SEC / 2;
        for _ in 0..10 {
            let _ = chat.hit_at(&1, late).unwrap();
        }
        // …and none just after where a fixed window would have reset.
        let next = late + SEC;
        let wait = chat.hit_at(&1, next).unwrap_err();
        assert_eq!(wait, 9 * SEC);
        // Other keys are not affected.
        let _ = chat.hit_at(&2, next).unwrap();
        // Once the first ten are ten seconds old, ten more fit.
        let later = next + wait;
        for _ in 0..10 {
            let _ = chat.hit_at(&1, later).unwrap();
        }
        assert!(chat.hit_at(&1, later).is_err());
    }

    #[test]
    fn forgiven_events_do_not_count() {
        let starts = Windows::new(Rate::per(2, 60 * SEC));
        let now = Instant::now();
        for _ in 0..5 {
            let hit = starts.hit_at(&"room", now).unwrap();
            starts.forgive(hit);
        }
        let _a = starts.hit_at(&"room", now).unwrap();
        let _b = starts.hit_at(&"room", now).unwrap();
        assert!(starts.hit_at(&"room", now).is_err());
    }

    #[test]
    fn failures_block_for_growing_spans_and_successes_are_forgiven() {
        let logins = Throttle::new(Rate::per(10, 60 * SEC));
        let mut now = Instant::now();
        // Successful logins do not use the budget.
        for _ in 0..50 {
            let hit = logins.attempt_at(&"ann", now).unwrap();
            logins.forgive(hit);
        }
        let mut guesses = 0;
        let mut blocks = Vec::new();
        // An attacker trying every 10 ms for an hour.
        let end = now + 3600 * SEC;
        while now < end {
            match logins.attempt_at(&"ann", now) {
                Ok(_failed) => {
                    guesses += 1;
                    now += SEC / 100;
                }
                Err(wait) => {
                    blocks.push(wait.as_secs() / 60);
                    now += wait;
                }
            }
        }
        assert_eq!(&blocks[..6], &[1, 2, 4, 8, 16, 16], "blocks grow: {blocks:?}");
        // Ten per round: 1+2+4+8+16 minutes of blocks, then 16 each.
        assert!(guesses <= 10 * 7, "{guesses} guesses in an hour");
        // Another account is untouched.
        assert!(logins.attempt_at(&"bob", now).is_ok());
    }

    #[test]
    fn simultaneous_attempts_are_counted_before_any_answer() {
        let logins = Throttle::new(Rate::per(10, 60 * SEC));
        let now = Instant::now();
        let held: Vec<_> = (0..64).filter_map(|_| logins.attempt_at(&"ann", now).ok()).collect();
        assert_eq!(held.len(), 10);
    }

    #[test]
    fn a_shared_key_counts_only_failures() {
        let by_address = Throttle::new(Rate::per(30, 60 * SEC));
        let now = Instant::now();
        // A thousand users behind one address log in at once, successfully.
        for _ in 0..1000 {
            assert!(by_address.check_at(&"nat", now).is_ok());
        }
        // Thirty failures use the budget; the next try is blocked.
        for _ in 0..30 {
            by_address.check_at(&"nat", now).unwrap();
            by_address.fail_at(&"nat", now);
        }
        assert_eq!(by_address.check_at(&"nat", now), Err(60 * SEC));
        assert!(by_address.check_at(&"nat", now + 59 * SEC).is_err());
        assert!(by_address.check_at(&"nat", now + 60 * SEC).is_ok());
    }

    #[test]
    fn unlimited_rates_never_refuse() {
        let windows = Windows::new(Rate::per(0, SEC));
        let throttle = Throttle::new(Rate::per(0, SEC));
        for _ in 0..1000 {
            assert!(windows.hit(&1).is_ok());
            assert!(throttle.attempt(&1).is_ok());
        }
    }

    #[test]
    fn addresses_group_by_subscriber() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(address_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), v4);
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_secs(Duration::from_secs(60)), 60);
        assert_eq!(retry_secs(Duration::from_millis(60_001)), 61);
    }
}
