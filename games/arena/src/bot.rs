//! The arena bot: at every tick it looks at going straight, left and right,
//! and takes the move that keeps the most room to ride in (a bounded flood
//! fill), avoiding cells another cycle could enter at the same moment. A
//! small random nudge keeps bots from riding in lockstep.

use std::collections::VecDeque;

use gamekit::bot::Rng;

use crate::sim::{COLUMNS, Cell, Dir, ROWS, on_grid};

/// Cells counted at most by the flood fill: enough to tell a dead end
/// from open space, cheap enough to run three times a tick.
const ROOM_CAP: usize = 400;
/// Penalty for a cell another head could reach this same tick.
const CONTESTED: i64 = 150;

/// The bot's choice of direction for a cycle at `head` riding `dir`.
///
/// `taken` has one entry per cell (row by row): true where a trail or head is.
/// `rivals` are the other cycles still riding.
pub fn choose_dir(
    taken: &[bool],
    head: Cell,
    dir: Dir,
    rivals: &[(Cell, Dir)],
    rng: &mut Rng,
) -> Dir {
    let contested: Vec<Cell> = rivals
        .iter()
        .flat_map(|&((x, y), _)| Dir::ALL.map(|d| (x + d.delta().0, y + d.delta().1)))
        .collect();
    // Now and then a bot prefers to turn while it has room: it makes for
    // livelier riding than following walls.
    let straight_bonus = if rng.chance(0.08) { -6 } else { 3 };
    let mut best = (i64::MIN, dir);
    for candidate in [dir, left_of(dir), right_of(dir)] {
        let (dx, dy) = candidate.delta();
        let next = (head.0 + dx, head.1 + dy);
        let score = if !on_grid(next) || taken[index(next)] {
            -10_000
        } else {
            let mut score = room(taken, next) as i64;
            if contested.contains(&next) {
                score -= CONTESTED;
            }
            if candidate == dir {
                score += straight_bonus;
            }
            score + rng.below(3) as i64
        };
        if score > best.0 {
            best = (score, candidate);
        }
    }
    best.1
}

/// The direction 90 degrees to the left of `dir`.
pub fn left_of(dir: Dir) -> Dir {
    match dir {
        Dir::Up => Dir::Left,
        Dir::Left => Dir::Down,
        Dir::Down => Dir::Right,
        Dir::Right => Dir::Up,
    }
}

/// The direction 90 degrees to the right of `dir`.
pub fn right_of(dir: Dir) -> Dir {
    left_of(dir).opposite()
}

/// Free cells reachable from `start` (itself free), up to [`ROOM_CAP`].
fn room(taken: &[bool], start: Cell) -> usize {
    let mut seen = vec![false; taken.len()];
    let mut queue = VecDeque::from([start]);
    seen[index(start)] = true;
    let mut count = 0;
    while let Some((x, y)) = queue.pop_front() {
        count += 1;
        if count >= ROOM_CAP {
            break;
        }
        for d in Dir::ALL {
            let next = (x + d.delta().0, y + d.delta().1);
            if on_grid(next) && !taken[index(next)] && !seen[index(next)] {
                seen[index(next)] = true;
                queue.push_back(next);
            }
        }
    }
    count
}

fn index((x, y): Cell) -> usize {
    debug_assert!(x < COLUMNS && y < ROWS);
    (y * COLUMNS + x) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Arena;

    fn empty() -> Vec<bool> {
        vec![false; (COLUMNS * ROWS) as usize]
    }

    #[test]
    fn turns_away_from_the_wall() {
        let mut rng = Rng::new(1);
        let dir = choose_dir(&empty(), (COLUMNS - 1, 10), Dir::Right, &[], &mut rng);
        assert!(dir == Dir::Up || dir == Dir::Down);
    }

    #[test]
    fn prefers_open_space_to_a_dead_end() {
        // The bot at (5, 21) rides up into a trail along row 20. To its left
        // is a closed pocket of four cells; to its right, the open arena.
        let mut taken = empty();
        for x in 0..=30 {
            taken[index((x, 20))] = true;
        }
        for x in 0..=5 {
            taken[index((x, 22))] = true;
        }
        taken[index((0, 21))] = true;
        taken[index((5, 21))] = true;
        let mut rng = Rng::new(2);
        assert_eq!(choose_dir(&taken, (5, 21), Dir::Up, &[], &mut rng), Dir::Right);
    }

    #[test]
    fn bots_survive_a_while_on_their_own() {
        // Two bots in a real arena ride at least a few hundred ticks.
        let mut arena = Arena::new(&[true, true]);
        let mut rng = Rng::new(3);
        let mut ticks = 0;
        while arena.riders().len() == 2 && ticks < 300 {
            let mut taken = empty();
            for y in 0..ROWS {
                for x in 0..COLUMNS {
                    taken[index((x, y))] = arena.owner((x, y)).is_some();
                }
            }
            for me in 0..2 {
                let cycle = &arena.cycles()[me];
                let rival = &arena.cycles()[1 - me];
                let dir =
                    choose_dir(&taken, cycle.head, cycle.dir, &[(rival.head, rival.dir)], &mut rng);
                arena.turn(me, dir);
            }
            arena.step();
            ticks += 1;
        }
        assert!(ticks >= 300, "a bot crashed after {ticks} ticks");
    }
}
