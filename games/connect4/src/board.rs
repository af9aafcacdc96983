//! The Connect Four board: seven columns of six cells, discs fall to the
//! lowest free cell, four in a row (across, down or diagonal) wins.

use std::fmt;

/// Columns on the board.
pub const COLUMNS: usize = 7;
/// Rows on the board.
pub const ROWS: usize = 6;

/// A player's disc: the first player has `X`, the second `O`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disc {
    X,
    O,
}

impl Disc {
    /// The disc of the player in seat `index` (0 or 1).
    pub fn of_player(index: usize) -> Disc {
        if index == 0 { Disc::X } else { Disc::O }
    }

    /// The seat of this disc's player.
    pub fn player(self) -> usize {
        match self {
            Disc::X => 0,
            Disc::O => 1,
        }
    }

    /// The other player's disc.
    pub fn other(self) -> Disc {
        match self {
            Disc::X => Disc::O,
            Disc::O => Disc::X,
        }
    }

    /// `X` or `O`.
    pub fn symbol(self) -> char {
        match self {
            Disc::X => 'X',
            Disc::O => 'O',
        }
    }
}

/// Why a move is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveError {
    /// The column number is not 1 to 7.
    NoSuchColumn,
    /// The column has no free cell.
    ColumnFull,
}

impl fmt::Display for MoveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoveError::NoSuchColumn => write!(f, "columns are numbered 1 to {COLUMNS}"),
            MoveError::ColumnFull => write!(f, "that column is full"),
        }
    }
}

/// A cell position: row 0 is the top row.
pub type Cell = (usize, usize);

/// The board; `cells[row][col]`, row 0 on top.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Board {
    cells: [[Option<Disc>; COLUMNS]; ROWS],
}

impl Board {
    /// An empty board.
    pub fn new() -> Board {
        Board::default()
    }

    /// The disc at `(row, col)`.
    pub fn at(&self, (row, col): Cell) -> Option<Disc> {
        self.cells[row][col]
    }

    /// Whether a disc can go into 0-based column `col`.
    pub fn can_drop(&self, col: usize) -> bool {
        col < COLUMNS && self.cells[0][col].is_none()
    }

    /// 0-based columns that still have room.
    pub fn open_columns(&self) -> Vec<usize> {
        (0..COLUMNS).filter(|&c| self.can_drop(c)).collect()
    }

    /// Drops `disc` into 0-based column `col`; returns the cell it lands in.
    pub fn drop_disc(&mut self, col: usize, disc: Disc) -> Result<Cell, MoveError> {
        if col >= COLUMNS {
            return Err(MoveError::NoSuchColumn);
        }
        let row =
            (0..ROWS).rev().find(|&r| self.cells[r][col].is_none()).ok_or(MoveError::ColumnFull)?;
        self.cells[row][col] = Some(disc);
        Ok((row, col))
    }

    /// Whether every cell is taken.
    pub fn is_full(&self) -> bool {
        self.cells[0].iter().all(Option::is_some)
    }

    /// The four cells of a line through `cell` that all hold its disc, if any.
    pub fn four_through(&self, cell: Cell) -> Option<[Cell; 4]> {
        let disc = self.at(cell)?;
        const DIRECTIONS: [(isize, isize); 4] = [(0, 1), (1, 0), (1, 1), (1, -1)];
        for (dr, dc) in DIRECTIONS {
            // Walk back to the first same-coloured cell of this line, then forward.
            let mut start = cell;
            while let Some(prev) = step(start, -dr, -dc) {
                if self.at(prev) != Some(disc) {
                    break;
                }
                start = prev;
            }
            let mut run = vec![start];
            let mut here = start;
            while let Some(next) = step(here, dr, dc) {
                if self.at(next) != Some(disc) {
                    break;
                }
                run.push(next);
                here = next;
            }
            if run.len() >= 4 {
                // The four closest to the new disc along the run.
                let at = run.iter().position(|&c| c == cell).unwrap_or(0);
                let first = at.saturating_sub(3).min(run.len() - 4);
                return Some([run[first], run[first + 1], run[first + 2], run[first + 3]]);
            }
        }
        None
    }

    /// Any winning four on the board, and whose it is.
    pub fn winner(&self) -> Option<(Disc, [Cell; 4])> {
        (0..ROWS).flat_map(|r| (0..COLUMNS).map(move |c| (r, c))).find_map(|cell| {
            self.four_through(cell).map(|four| (self.at(cell).unwrap_or(Disc::X), four))
        })
    }

    /// The 42-character wire form: rows top to bottom, `.`, `X` or `O`.
    pub fn encode(&self) -> String {
        self.cells.iter().flatten().map(|cell| cell.map_or('.', Disc::symbol)).collect()
    }

    /// Parses [`Board::encode`]'s form.
    pub fn decode(text: &str) -> Option<Board> {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() != ROWS * COLUMNS {
            return None;
        }
        let mut board = Board::new();
        for (i, ch) in chars.into_iter().enumerate() {
            board.cells[i / COLUMNS][i % COLUMNS] = match ch {
                '.' => None,
                'X' => Some(Disc::X),
                'O' => Some(Disc::O),
                _ => return None,
            };
        }
        Some(board)
    }

    /// Discs on the board.
    pub fn disc_count(&self) -> usize {
        self.cells.iter().flatten().filter(|c| c.is_some()).count()
    }
}

fn step((row, col): Cell, dr: isize, dc: isize) -> Option<Cell> {
    let r = row.checked_add_signed(dr)?;
    let c = col.checked_add_signed(dc)?;
    (r < ROWS && c < COLUMNS).then_some((r, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays 1-based columns alternately from X.
    fn play(moves: &str) -> Board {
        let mut board = Board::new();
        for (i, ch) in moves.chars().enumerate() {
            let col = ch.to_digit(10).unwrap() as usize - 1;
            board.drop_disc(col, Disc::of_player(i % 2)).unwrap();
        }
        board
    }

    #[test]
    fn wins_in_every_direction() {
        let check = |moves: &str, expect: Option<Disc>| {
            assert_eq!(play(moves).winner().map(|(d, _)| d), expect, "{moves}");
        };
        check("", None);
        check("123456", None);
        check("1122334", Some(Disc::X)); // across the bottom row
        check("1212121", Some(Disc::X)); // up column 1
        check("12233434474", Some(Disc::X)); // rising diagonal
        check("76655454414", Some(Disc::X)); // falling diagonal (mirror image)
    }

    #[test]
    fn the_winning_four_contains_the_last_disc() {
        let mut board = play("112233");
        let cell = board.drop_disc(3, Disc::X).unwrap();
        let four = board.four_through(cell).unwrap();
        assert!(four.contains(&cell));
        assert_eq!(four, [(5, 0), (5, 1), (5, 2), (5, 3)]);
    }

    #[test]
    fn full_columns_and_bad_columns_are_refused() {
        let mut board = play("111111");
        assert_eq!(board.drop_disc(0, Disc::X), Err(MoveError::ColumnFull));
        assert_eq!(board.drop_disc(7, Disc::X), Err(MoveError::NoSuchColumn));
        assert_eq!(board.open_columns(), vec![1, 2, 3, 4, 5, 6]);
        assert!(!board.is_full());
    }

    #[test]
    fn a_full_board_without_four_is_a_draw() {
        let rows = ["XXOOXXO", "OOXXOOX", "XXOOXXO", "OOXXOOX", "XXOOXXO", "OOXXOOX"];
        let board = Board::decode(&rows.concat()).unwrap();
        assert!(board.is_full());
        assert_eq!(board.winner(), None);
        assert!(board.open_columns().is_empty());
    }

    #[test]
    fn wire_form_round_trips() {
        let board = play("4455");
        let text = board.encode();
        assert_eq!(text.len(), 42);
        assert!(text.ends_with("...OO.....XX.."), "{text}");
        assert_eq!(Board::decode(&text), Some(board));
        assert_eq!(Board::decode("X"), None);
        assert_eq!(Board::decode(&"?".repeat(42)), None);
    }
}
