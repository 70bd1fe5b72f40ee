/**
 * Shared grid-world helpers: coordinates, clamped moves, breadth-first distances and text
 * rendering. FrozenLake and CliffWalking differ only in cell meanings, action order and rewards.
 */

export interface Cell {
  row: number;
  col: number;
}

export type Delta = readonly [dRow: number, dCol: number];

export function cellIndex(cell: Cell, cols: number): number {
  return cell.row * cols + cell.col;
}

export function indexCell(index: number, cols: number): Cell {
  return { row: Math.floor(index / cols), col: index % cols };
}

/** The cell reached by a move; moving off the grid leaves the agent where it is (Gymnasium semantics). */
export function moveClamped(cell: Cell, delta: Delta, rows: number, cols: number): Cell {
  const row = Math.min(rows - 1, Math.max(0, cell.row + delta[0]));
  const col = Math.min(cols - 1, Math.max(0, cell.col + delta[1]));
  return { row, col };
}

/**
 * Steps from every cell to the nearest goal cell, moving with the given deltas through cells
 * that `passable` allows (goals must be passable). Unreachable cells get Infinity.
 */
export function bfsDistances(
  rows: number,
  cols: number,
  goals: readonly number[],
  passable: (index: number) => boolean,
  deltas: readonly Delta[],
): number[] {
  const dist = new Array<number>(rows * cols).fill(Number.POSITIVE_INFINITY);
  const queue: number[] = [];
  for (const g of goals) {
    dist[g] = 0;
    queue.push(g);
  }
  // Moves are reversible on an open grid (every delta has its opposite), so searching backwards
  // from the goals over passable cells gives forward distances.
  for (let head = 0; head < queue.length; head++) {
    const here = queue[head]!;
    const cell = indexCell(here, cols);
    for (const d of deltas) {
      const next = cellIndex(moveClamped(cell, d, rows, cols), cols);
      if (next === here || !passable(next) || dist[next] !== Number.POSITIVE_INFINITY) continue;
      dist[next] = dist[here]! + 1;
      queue.push(next);
    }
  }
  return dist;
}

/** Grid text, one row per line, with the agent's cell replaced by `agentChar`. */
export function renderGrid(rows: readonly string[], agent: Cell, agentChar: string): string {
  return rows
    .map((line, r) => (r === agent.row ? line.slice(0, agent.col) + agentChar + line.slice(agent.col + 1) : line))
    .join('\n');
}
