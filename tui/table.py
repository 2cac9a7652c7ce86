"""The TUI's tables: a DataTable whose live cell updates repaint one row, and how rows are filled."""

from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.widgets import DataTable
from textual.widgets.data_table import Row

from tui.format import literal


class LiveTable(DataTable[Any]):
    """A DataTable for rows that change one at a time, as events come.

    DataTable's `update_cell` repaints the whole table, and each repaint renders every cell on
    screen again (its render caches are keyed by a count of all updates): with an event a
    second that was most of the TUI's CPU. `update_row` changes a row's cells and repaints
    that row alone, and nothing when it is scrolled out of sight.

    Repainting the row rendered each of its cells again, as DataTable keys its cell cache by
    that count too: most of the CPU of an event was the cells that had not changed. Cells
    are also kept here by a version of each cell that `update_row` counts, valid while the
    table has no other change (`_epoch`: the updates that were not `update_row`'s).
    """

    _one_row = False
    _row_updates = 0  # the increments of DataTable's update count made by update_row
    _ordered: tuple[tuple[int, int], list[Row]] | None = None  # ordered_rows, with its key

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._versions: dict[tuple[Any, Any], int] = {}
        self._cells: LRUCache[tuple[Any, ...], Any] = LRUCache(4000)

    def _epoch(self) -> int:
        return self._update_count - self._row_updates

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> Any:
        if row_index < 0 or column_index < 0:  # the header, row labels
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cell = (self._row_locations.get_key(row_index), self._column_locations.get_key(column_index))
        key = (
            *cell,
            self._versions.get(cell, 0),
            self._epoch(),
            row_index,
            base_style,
            width,
            cursor,
            hover,
            self.show_cursor,
            self.cursor_type,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        lines = self._cells.get(key)
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._cells[key] = lines
        return lines

    @property
    def ordered_rows(self) -> list[Row]:
        """DataTable's, kept while no row is added, removed or sorted: DataTable builds the
        list again after each update of a cell, for every line it renders next."""
        key = (self.row_count, self._epoch())
        if self._ordered is None or self._ordered[0] != key:
            self._ordered = (key, super().ordered_rows)
        return self._ordered[1]

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._cells.clear()
        self._ordered = None

    def notify_style_update(self) -> None:
        self._cells.clear()
        super().notify_style_update()

    def refresh(
        self, *regions: Any, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Any:
        if self._one_row:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def update_row(self, key: str, cells: list[Text]) -> None:
        """Set the cells of row `key` that differ; a column too narrow for its new cell widens."""
        widen = False
        changed = False
        self._one_row = True
        try:
            for column, old, new in zip(list(self.columns.values()), self.get_row(key), cells, strict=True):
                if old != new:
                    grows = column.auto_width and cell_len(new.plain) > column.content_width
                    self.update_cell(key, column.key, new, update_width=grows)
                    self._row_updates += 1
                    self._versions[key, column.key] = self._versions.get((key, column.key), 0) + 1
                    widen = widen or grows
                    changed = True
        finally:
            self._one_row = False
        if widen:
            self.refresh()  # the columns after it move: the whole table
        elif changed:
            self.refresh_row(self.get_row_index(key))


def cells_of(values: list[Any]) -> list[Text]:
    return [value if isinstance(value, Text) else literal(value) for value in values]


def fill_row(table: DataTable[Any], key: str, values: list[Any]) -> None:
    """Update the cells of one row that changed."""
    cells = cells_of(values)
    if isinstance(table, LiveTable):
        table.update_row(key, cells)
        return
    for column, old, new in zip(list(table.columns), table.get_row(key), cells, strict=True):
        if old != new:
            table.update_cell(key, column, new)


def fill(table: DataTable[Any], rows: list[tuple[str, list[Any]]]) -> None:
    """Show `rows` in a table: only the changed cells when the rows are the same ones, else
    all of them, keeping the cursor on the same key."""
    keys = [key for key, _ in rows]
    if keys == [row.value for row in table.rows]:
        for key, values in rows:
            fill_row(table, key, values)
        return
    keep = None
    if table.row_count and table.cursor_row < table.row_count:
        keep = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    table.clear()
    for key, values in rows:
        table.add_row(*cells_of(values), key=key)
    if keep in keys:
        table.move_cursor(row=keys.index(str(keep)))


def selected(table: DataTable[Any]) -> str | None:
    if not table.row_count:
        return None
    value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    return str(value) if value is not None else None
