//! The Connect Four bot: wins when it can, blocks the opponent's win, avoids
//! handing the opponent a win, and otherwise prefers central columns with a
//! little randomness so that bot matches differ.

use gamekit::bot::Rng;

use crate::board::{Board, COLUMNS, Disc};

/// Preference of each column: central columns take part in more fours.
const CENTRE_WEIGHT: [u32; COLUMNS] = [1, 2, 3, 5, 3, 2, 1];

/// Picks a 0-based column for `me`; `None` only on a full board.
pub fn choose_move(board: &Board, me: Disc, rng: &mut Rng) -> Option<usize> {
    let open = board.open_columns();
    if open.is_empty() {
        return None;
    }
    // 1. Win now.
    if let Some(col) = open.iter().copied().find(|&c| wins_with(board, c, me)) {
        return Some(col);
    }
    // 2. Block the opponent's immediate win.
    if let Some(col) = open.iter().copied().find(|&c| wins_with(board, c, me.other())) {
        return Some(col);
    }
    // 3. Do not set up the opponent: avoid columns where they win on top of us.
    let safe: Vec<usize> =
        open.iter().copied().filter(|&c| !gives_away_win(board, c, me)).collect();
    let candidates = if safe.is_empty() { open } else { safe };
    // 4. Weighted random choice, favouring the centre.
    let total: u32 = candidates.iter().map(|&c| CENTRE_WEIGHT[c]).sum();
    let mut pick = rng.below(total as usize) as u32;
    for &col in &candidates {
        if pick < CENTRE_WEIGHT[col] {
            return Some(col);
        }
        pick -= CENTRE_WEIGHT[col];
    }
    candidates.last().copied()
}

fn wins_with(board: &Board, col: usize, disc: Disc) -> bool {
    let mut next = board.clone();
    match next.drop_disc(col, disc) {
        Ok(cell) => next.four_through(cell).is_some(),
        Err(_) => false,
    }
}

fn gives_away_win(board: &Board, col: usize, me: Disc) -> bool {
    let mut next = board.clone();
    if next.drop_disc(col, me).is_err() {
        return false;
    }
    next.open_columns().into_iter().any(|c| wins_with(&next, c, me.other()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(moves: &str) -> Board {
        let mut board = Board::new();
        for (i, ch) in moves.chars().enumerate() {
            let col = ch.to_digit(10).unwrap() as usize - 1;
            board.drop_disc(col, Disc::of_player(i % 2)).unwrap();
        }
        board
    }

    #[test]
    fn takes_the_win_and_blocks_the_loss() {
        let mut rng = Rng::new(7);
        // X to move with three in the bottom row: play column 4.
        assert_eq!(choose_move(&board("112233"), Disc::X, &mut rng), Some(3));
        // O to move, X threatens column 4: block it.
        assert_eq!(choose_move(&board("11223"), Disc::O, &mut rng), Some(3));
    }

    #[test]
    fn always_plays_a_legal_move() {
        let mut rng = Rng::new(1);
        let mut board = Board::new();
        let mut disc = Disc::X;
        while let Some(col) = choose_move(&board, disc, &mut rng) {
            let cell = board.drop_disc(col, disc).expect("the bot's move is legal");
            if board.four_through(cell).is_some() {
                break;
            }
            disc = disc.other();
        }
        assert!(board.winner().is_some() || board.is_full());
    }
}
