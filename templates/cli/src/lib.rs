//! Tic-tac-toe for two players: the board and the wire protocol, shared by
//! `game-server` and `game-client`.
//!
//! Everything travels as text lines over TCP:
//!
//! ```text
//! client: HELLO <token> <name>           first line; "-" for an empty token
//! server: WELCOME <index>                you are seat 0 (X, moves first) or 1 (O)
//!    or:  ERR <reason>                   and the server closes
//! server: START <name of X> / <name of O>
//! server: BOARD <9 chars>                '.', 'X' or 'O', row by row
//! server: TURN <index>
//! client: MOVE <cell 1-9>                cells numbered like a phone keypad
//! server: ILLEGAL <reason>               still your turn
//! server: OVER <winner index|-> <summary>   then the server closes
//! client: QUIT
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;

/// The nine cells, row by row; `None` is empty.
pub type Board = [Option<char>; 9];

/// The disc of each seat.
pub const MARKS: [char; 2] = ['X', 'O'];

const LINES: [[usize; 3]; 8] =
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]];

/// The mark that has three in a row, if any.
pub fn winner(board: &Board) -> Option<char> {
    LINES.iter().find_map(|&[a, b, c]| {
        let mark = board[a]?;
        (board[b] == Some(mark) && board[c] == Some(mark)).then_some(mark)
    })
}

/// The wire form of a board.
pub fn encode(board: &Board) -> String {
    board.iter().map(|cell| cell.unwrap_or('.')).collect()
}

/// Parses [`encode`]'s form.
pub fn decode(text: &str) -> Option<Board> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() != 9 {
        return None;
    }
    let mut board = [None; 9];
    for (cell, ch) in board.iter_mut().zip(chars) {
        *cell = match ch {
            '.' => None,
            'X' | 'O' => Some(ch),
            _ => return None,
        };
    }
    Some(board)
}

/// A bot's move for `mark` (0-based cell): win, else block, else centre,
/// corners, edges.
pub fn bot_move(board: &Board, mark: char) -> Option<usize> {
    let other = if mark == 'X' { 'O' } else { 'X' };
    for who in [mark, other] {
        for cell in 0..9 {
            if board[cell].is_none() {
                let mut next = *board;
                next[cell] = Some(who);
                if winner(&next) == Some(who) {
                    return Some(cell);
                }
            }
        }
    }
    [4, 0, 2, 6, 8, 1, 3, 5, 7].into_iter().find(|&cell| board[cell].is_none())
}

/// Reads one line (at most 1 KiB) without its newline; `None` at the end
/// of the stream. Set a read timeout on the stream so this cannot hang.
pub fn read_line(reader: &mut BufReader<TcpStream>) -> io::Result<Option<String>> {
    let mut bytes = Vec::new();
    if io::Read::take(&mut *reader, 1024).read_until(b'\n', &mut bytes)? == 0 {
        return Ok(None);
    }
    if bytes.pop() != Some(b'\n') {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long or cut short"));
    }
    String::from_utf8(bytes)
        .map(|line| Some(line.trim_end_matches('\r').to_string()))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
}

/// Sends one line.
pub fn send(mut stream: &TcpStream, line: &str) -> io::Result<()> {
    stream.write_all(format!("{line}\n").as_bytes())
}

/// Returns the value of `--name` in `args`, or `default`.
pub fn flag(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let board = decode("XXX.OO...").unwrap();
        assert_eq!(winner(&board), Some('X'));
        assert_eq!(encode(&board), "XXX.OO...");
        assert_eq!(bot_move(&decode("OO.XX....").unwrap(), 'X'), Some(5));
        assert_eq!(bot_move(&decode("OO.X.....").unwrap(), 'X'), Some(2));
        assert_eq!(decode("XO"), None);
    }
}
