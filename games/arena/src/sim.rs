//! The arena's rules, run by the server only: a grid of cells, one cycle per
//! player moving one cell per tick, and crashes.
//!
//! Within one tick every cycle first takes its next queued turn (a turn back
//! onto its own trail is ignored), then all move at once. A cycle crashes when
//! its next cell is outside the grid or already taken (trails stay for the
//! whole round, the crashed cycle's too), or when two cycles move into the
//! same cell; in a head-on meeting both crash.

use std::collections::VecDeque;

/// Grid width in cells.
pub const COLUMNS: i32 = 80;
/// Grid height in cells.
pub const ROWS: i32 = 55;
/// Turns a player may queue ahead (quick double taps).
const TURN_QUEUE: usize = 3;

/// A direction of travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Up,
    Down,
    Left,
    Right,
}

impl Dir {
    /// All four directions.
    pub const ALL: [Dir; 4] = [Dir::Up, Dir::Down, Dir::Left, Dir::Right];

    /// The step of one cell in this direction.
    pub fn delta(self) -> (i32, i32) {
        match self {
            Dir::Up => (0, -1),
            Dir::Down => (0, 1),
            Dir::Left => (-1, 0),
            Dir::Right => (1, 0),
        }
    }

    /// The reverse direction.
    pub fn opposite(self) -> Dir {
        match self {
            Dir::Up => Dir::Down,
            Dir::Down => Dir::Up,
            Dir::Left => Dir::Right,
            Dir::Right => Dir::Left,
        }
    }

    /// The wire letter: `U`, `D`, `L` or `R`.
    pub fn letter(self) -> char {
        match self {
            Dir::Up => 'U',
            Dir::Down => 'D',
            Dir::Left => 'L',
            Dir::Right => 'R',
        }
    }

    /// Parses a wire letter.
    pub fn from_letter(text: &str) -> Option<Dir> {
        match text {
            "U" => Some(Dir::Up),
            "D" => Some(Dir::Down),
            "L" => Some(Dir::Left),
            "R" => Some(Dir::Right),
            _ => None,
        }
    }

    /// The direction of a one-cell step from `from` to `to`, if it is one.
    pub fn between(from: (i32, i32), to: (i32, i32)) -> Option<Dir> {
        let step = (to.0 - from.0, to.1 - from.1);
        Dir::ALL.into_iter().find(|d| d.delta() == step)
    }
}

/// A cell position `(column, row)`.
pub type Cell = (i32, i32);

/// Whether a cell lies on the grid.
pub fn on_grid((x, y): Cell) -> bool {
    (0..COLUMNS).contains(&x) && (0..ROWS).contains(&y)
}

/// Where the players of an `n`-player round start: evenly spaced on a circle
/// around the centre, all riding clockwise.
pub fn spawns(n: usize) -> Vec<(Cell, Dir)> {
    let (cx, cy) = (COLUMNS as f32 / 2.0, ROWS as f32 / 2.0);
    let radius = ROWS.min(COLUMNS) as f32 * 0.36;
    (0..n)
        .map(|i| {
            let angle = std::f32::consts::TAU * i as f32 / n as f32 - std::f32::consts::FRAC_PI_2;
            let cell = (
                (cx + radius * angle.cos()).round() as i32,
                (cy + radius * angle.sin()).round() as i32,
            );
            // Clockwise tangent on screen (y grows downwards): (-sin, cos).
            let (tx, ty) = (-angle.sin(), angle.cos());
            let dir = if tx.abs() >= ty.abs() {
                if tx > 0.0 { Dir::Right } else { Dir::Left }
            } else if ty > 0.0 {
                Dir::Down
            } else {
                Dir::Up
            };
            (cell, dir)
        })
        .collect()
}

/// One player's cycle.
#[derive(Debug, Clone)]
pub struct Cycle {
    /// The head's cell.
    pub head: Cell,
    /// Direction of travel.
    pub dir: Dir,
    /// Still riding this round.
    pub alive: bool,
    turns: VecDeque<Dir>,
}

/// One round's grid and cycles.
#[derive(Debug, Clone)]
pub struct Arena {
    /// Owner of each cell plus one; 0 for free.
    grid: Vec<u8>,
    cycles: Vec<Cycle>,
}

impl Arena {
    /// A fresh round for `present.len()` seats; absent seats get no cycle.
    pub fn new(present: &[bool]) -> Arena {
        let mut arena = Arena { grid: vec![0; (COLUMNS * ROWS) as usize], cycles: Vec::new() };
        for (index, (cell, dir)) in spawns(present.len()).into_iter().enumerate() {
            let alive = present[index];
            if alive {
                arena.mark(cell, index);
            }
            arena.cycles.push(Cycle { head: cell, dir, alive, turns: VecDeque::new() });
        }
        arena
    }

    /// The cycles, by seat.
    pub fn cycles(&self) -> &[Cycle] {
        &self.cycles
    }

    /// Who owns `cell` (a trail or head), if anyone.
    pub fn owner(&self, cell: Cell) -> Option<usize> {
        if !on_grid(cell) {
            return None;
        }
        self.grid[index(cell)].checked_sub(1).map(usize::from)
    }

    /// Queues a turn for `player`, applied on a coming tick.
    pub fn turn(&mut self, player: usize, dir: Dir) {
        let turns = &mut self.cycles[player].turns;
        if turns.len() < TURN_QUEUE {
            turns.push_back(dir);
        }
    }

    /// Takes `player` out of the round (they left).
    pub fn remove(&mut self, player: usize) -> bool {
        std::mem::replace(&mut self.cycles[player].alive, false)
    }

    /// Players still riding.
    pub fn riders(&self) -> Vec<usize> {
        (0..self.cycles.len()).filter(|&i| self.cycles[i].alive).collect()
    }

    /// Advances one tick; returns the players who crashed in it.
    pub fn step(&mut self) -> Vec<usize> {
        for cycle in self.cycles.iter_mut().filter(|c| c.alive) {
            while let Some(dir) = cycle.turns.pop_front() {
                if dir != cycle.dir && dir != cycle.dir.opposite() {
                    cycle.dir = dir;
                    break;
                }
            }
        }
        let next: Vec<Option<Cell>> = self
            .cycles
            .iter()
            .map(|c| {
                c.alive.then(|| {
                    let (dx, dy) = c.dir.delta();
                    (c.head.0 + dx, c.head.1 + dy)
                })
            })
            .collect();
        let mut crashed = Vec::new();
        for (i, cell) in next.iter().enumerate() {
            let Some(cell) = *cell else { continue };
            let blocked = !on_grid(cell) || self.grid[index(cell)] != 0;
            let collides = next.iter().enumerate().any(|(j, other)| j != i && *other == Some(cell));
            if blocked || collides {
                crashed.push(i);
            }
        }
        for (i, cell) in next.into_iter().enumerate() {
            let Some(cell) = cell else { continue };
            if crashed.contains(&i) {
                self.cycles[i].alive = false;
            } else {
                self.cycles[i].head = cell;
                self.mark(cell, i);
            }
        }
        crashed
    }

    fn mark(&mut self, cell: Cell, player: usize) {
        self.grid[index(cell)] = player as u8 + 1;
    }
}

fn index((x, y): Cell) -> usize {
    (y * COLUMNS + x) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawns_are_distinct_on_the_grid_and_apart() {
        for n in 2..=8 {
            let spawns = spawns(n);
            for (i, (a, _)) in spawns.iter().enumerate() {
                assert!(on_grid(*a));
                for (b, _) in &spawns[i + 1..] {
                    let distance = (a.0 - b.0).abs() + (a.1 - b.1).abs();
                    assert!(distance >= 8, "{n} players: {a:?} and {b:?} too close");
                }
            }
        }
        assert_eq!(spawns(2)[0].1, Dir::Right);
        assert_eq!(spawns(2)[1].1, Dir::Left);
    }

    #[test]
    fn cycles_move_turn_and_leave_trails() {
        let mut arena = Arena::new(&[true, true]);
        let start = arena.cycles()[0].head;
        arena.turn(0, Dir::Left); // reversing is ignored...
        arena.turn(0, Dir::Down); // ...the next queued turn is taken
        assert!(arena.step().is_empty());
        assert_eq!(arena.cycles()[0].head, (start.0, start.1 + 1));
        assert_eq!(arena.cycles()[0].dir, Dir::Down);
        assert_eq!(arena.owner(start), Some(0));
        assert_eq!(arena.owner((start.0, start.1 + 1)), Some(0));
    }

    #[test]
    fn walls_and_trails_crash_cycles() {
        let mut arena = Arena::new(&[true, true]);
        // Player 0 rides right along the top part until the wall.
        let mut crashed = Vec::new();
        for _ in 0..COLUMNS {
            crashed = arena.step();
            if crashed.contains(&0) {
                break;
            }
        }
        assert!(crashed.contains(&0), "player 0 hit the right wall");
        assert!(!arena.cycles()[0].alive);
        // A cycle turning back into its own trail crashes too.
        let mut arena = Arena::new(&[true, true]);
        arena.turn(1, Dir::Up);
        arena.step();
        arena.turn(1, Dir::Right);
        arena.step();
        arena.turn(1, Dir::Down);
        arena.step();
        arena.turn(1, Dir::Left); // back onto the spawn cell
        assert_eq!(arena.step(), vec![1]);
    }

    #[test]
    fn a_head_on_meeting_crashes_both() {
        let mut arena = Arena::new(&[true, true]);
        // Put both cycles on a collision course in the same row.
        arena.cycles[0].head = (10, 5);
        arena.cycles[0].dir = Dir::Right;
        arena.cycles[1].head = (12, 5);
        arena.cycles[1].dir = Dir::Left;
        assert_eq!(arena.step(), vec![0, 1]);
        assert!(arena.riders().is_empty());
    }

    #[test]
    fn absent_and_removed_players_do_not_ride() {
        let mut arena = Arena::new(&[true, false, true]);
        assert_eq!(arena.riders(), vec![0, 2]);
        assert!(arena.remove(2));
        assert!(!arena.remove(2));
        assert_eq!(arena.riders(), vec![0]);
    }
}
