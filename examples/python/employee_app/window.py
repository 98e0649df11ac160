"""The employee register's window: an "Employees" tab (list and editor) and a "Backups"
tab (``sqlkeep.tk.BackupView``)."""

from __future__ import annotations

import sqlite3
import tkinter as tk
from tkinter import messagebox, ttk
from typing import Any, Callable, Literal

import customtkinter as ctk
import employees
import sqlkeep
from employees import DEPARTMENTS, Employee
from sqlkeep.tk import BackupView

TITLE = "Employee register"


class EmployeeEditor(ctk.CTkFrame):
    """The employee list with a search box, and a form to add, change and remove one."""

    def __init__(self, master: Any, con: sqlite3.Connection, confirm: Callable[[str, str], bool]) -> None:
        super().__init__(master, fg_color="transparent")
        self.con = con
        self.confirm = confirm
        self.selected_id: int | None = None
        self.grid_columnconfigure(0, weight=1)
        self.grid_rowconfigure(0, weight=1)
        self._build_list().grid(row=0, column=0, sticky="nsew", padx=(0, 10))
        self._build_form().grid(row=0, column=1, sticky="ns")
        self.reload()

    def _build_list(self) -> ctk.CTkFrame:
        card = ctk.CTkFrame(self, fg_color=ctk.ThemeManager.theme["CTkFrame"]["top_fg_color"])
        card.grid_columnconfigure(0, weight=1)
        card.grid_rowconfigure(1, weight=1)
        top = ctk.CTkFrame(card, fg_color="transparent")
        top.grid(row=0, column=0, sticky="ew", padx=14, pady=(12, 8))
        top.grid_columnconfigure(1, weight=1)
        title = ctk.CTkLabel(top, text="Employees", font=ctk.CTkFont(size=15, weight="bold"))
        title.grid(row=0, column=0, padx=(0, 12))
        self.search_entry = ctk.CTkEntry(top, placeholder_text="Search name, department or email")
        self.search_entry.grid(row=0, column=1, sticky="ew")
        self.search_entry.bind("<KeyRelease>", lambda e: self.reload())
        self.count_label = ctk.CTkLabel(top, text="", text_color=("gray45", "gray60"))
        self.count_label.grid(row=0, column=2, padx=(12, 0))

        frame = ctk.CTkFrame(card, fg_color=ctk.ThemeManager.theme["CTkEntry"]["fg_color"])
        frame.grid(row=1, column=0, sticky="nsew", padx=14, pady=(0, 14))
        frame.grid_columnconfigure(0, weight=1)
        frame.grid_rowconfigure(0, weight=1)
        columns: tuple[tuple[str, str, int, Literal["w", "e"]], ...] = (
            ("name", "Name", 190, "w"),
            ("department", "Department", 130, "w"),
            ("email", "Email", 260, "w"),
            ("salary", "Salary", 100, "e"),
        )
        self.table = ttk.Treeview(frame, columns=[c[0] for c in columns], show="headings",
                                  selectmode="browse", style="Employees.Treeview")
        for col, heading, width, anchor in columns:
            self.table.heading(col, text=heading, anchor=anchor)
            self.table.column(col, width=width, anchor=anchor, stretch=col == "email")
        self.table.grid(row=0, column=0, sticky="nsew", padx=(4, 0), pady=4)
        bar = ctk.CTkScrollbar(frame, command=self.table.yview)
        bar.grid(row=0, column=1, sticky="ns", padx=2, pady=4)
        self.table.configure(yscrollcommand=bar.set)
        self.table.bind("<<TreeviewSelect>>", lambda e: self._load_selected())
        self._fonts = style_table(self, "Employees.Treeview")
        return card

    def _build_form(self) -> ctk.CTkFrame:
        card = ctk.CTkFrame(self, fg_color=ctk.ThemeManager.theme["CTkFrame"]["top_fg_color"])
        ctk.CTkLabel(card, text="Details", font=ctk.CTkFont(size=15, weight="bold"), anchor="w").pack(
            fill="x", padx=14, pady=(12, 6)
        )
        self.fields: dict[str, tk.StringVar] = {}
        for key, caption in (("name", "Name"), ("department", "Department"), ("email", "Email"), ("salary", "Salary")):
            ctk.CTkLabel(card, text=caption, anchor="w", height=20).pack(fill="x", padx=14)
            var = tk.StringVar(self)
            if key == "department":
                widget: Any = ctk.CTkComboBox(card, values=list(DEPARTMENTS), variable=var, width=260)
            else:
                widget = ctk.CTkEntry(card, textvariable=var, width=260)
            widget.pack(fill="x", padx=14, pady=(0, 8))
            self.fields[key] = var
        self.error_label = ctk.CTkLabel(
            card, text="", text_color=("#C62828", "#FF6B6B"), wraplength=260, justify="left"
        )
        self.error_label.pack(fill="x", padx=14)
        buttons = ctk.CTkFrame(card, fg_color="transparent")
        buttons.pack(fill="x", padx=14, pady=(4, 14))
        buttons.grid_columnconfigure((0, 1), weight=1)
        self.add_button = ctk.CTkButton(buttons, text="Add", command=self.add)
        self.save_button = ctk.CTkButton(buttons, text="Save changes", command=self.save)
        self.delete_button = ctk.CTkButton(buttons, text="Delete", fg_color=("#C0392B", "#A93226"),
                                           hover_color=("#A93226", "#8E2A20"), command=self.delete)
        self.clear_button = ctk.CTkButton(buttons, text="Clear", fg_color=("gray60", "gray35"),
                                          hover_color=("gray50", "gray30"), command=self.clear)
        self.add_button.grid(row=0, column=0, sticky="ew", padx=(0, 4), pady=(0, 8))
        self.save_button.grid(row=0, column=1, sticky="ew", padx=(4, 0), pady=(0, 8))
        self.delete_button.grid(row=1, column=0, sticky="ew", padx=(0, 4))
        self.clear_button.grid(row=1, column=1, sticky="ew", padx=(4, 0))
        self._update_buttons()
        return card

    def reload(self) -> None:
        """Reads the register again (after a search, an edit or a restore)."""
        search = self.search_entry.get()
        people = employees.list_employees(self.con, search)
        self.table.delete(*self.table.get_children())
        for e in people:
            self.table.insert("", "end", iid=str(e.id), values=(e.name, e.department, e.email, f"{e.salary:,}"))
        total = self.con.execute("SELECT count(*) FROM employees").fetchone()[0]
        self.count_label.configure(text=f"{len(people)} of {total}" if search.strip() else f"{total} employees")
        if self.selected_id is not None and self.table.exists(str(self.selected_id)):
            self.table.selection_set(str(self.selected_id))
        elif self.selected_id is not None:
            self.clear()

    def _load_selected(self) -> None:
        selection = self.table.selection()
        if not selection:
            return
        row = self.con.execute(
            "SELECT id, name, department, email, salary FROM employees WHERE id = ?", (int(selection[0]),)
        ).fetchone()
        if row is None:
            return
        e = Employee(*row)
        self.selected_id = e.id
        for key in ("name", "department", "email"):
            self.fields[key].set(getattr(e, key))
        self.fields["salary"].set(str(e.salary))
        self.error_label.configure(text="")
        self._update_buttons()

    def _form(self) -> Employee | None:
        name = self.fields["name"].get().strip()
        department = self.fields["department"].get().strip()
        email = self.fields["email"].get().strip()
        salary = self.fields["salary"].get().strip().replace(",", "")
        problem = None
        if not name:
            problem = "Enter a name."
        elif not department:
            problem = "Choose a department."
        elif "@" not in email:
            problem = "Enter an email address."
        elif not salary.isdigit():
            problem = "Enter the salary as a whole number."
        self.error_label.configure(text=problem or "")
        if problem:
            return None
        return Employee(self.selected_id, name, department, email, int(salary))

    def add(self) -> None:
        e = self._form()
        if e is None:
            return
        try:
            self.selected_id = employees.add(self.con, e)
        except sqlite3.IntegrityError:
            self.error_label.configure(text=f"{e.email} is already in the register.")
            return
        self.reload()
        self.table.see(str(self.selected_id))
        self._update_buttons()

    def save(self) -> None:
        e = self._form()
        if e is None or e.id is None:
            return
        try:
            employees.update(self.con, e)
        except sqlite3.IntegrityError:
            self.error_label.configure(text=f"{e.email} is already in the register.")
            return
        self.reload()

    def delete(self) -> None:
        if self.selected_id is None:
            return
        name = self.fields["name"].get().strip()
        if not self.confirm("Delete employee", f"Remove {name} from the register?"):
            return
        employees.delete(self.con, self.selected_id)
        self.clear()
        self.reload()

    def clear(self) -> None:
        self.selected_id = None
        self.table.selection_remove(*self.table.selection())
        for var in self.fields.values():
            var.set("")
        self.error_label.configure(text="")
        self._update_buttons()

    def _update_buttons(self) -> None:
        state = "normal" if self.selected_id is not None else "disabled"
        self.save_button.configure(state=state)
        self.delete_button.configure(state=state)


def style_table(widget: ctk.CTkBaseClass, style_name: str) -> list[ctk.CTkFont]:
    """Styles ttk.Treeview `style_name` to sit among CustomTkinter widgets; returns the
    fonts, which the caller keeps (Tk forgets a font whose Python object is collected)."""
    theme = ctk.ThemeManager.theme
    fonts = [ctk.CTkFont(size=13), ctk.CTkFont(size=13, weight="bold")]
    color = widget._apply_appearance_mode
    background = color(theme["CTkEntry"]["fg_color"])
    style = ttk.Style(widget)
    style.configure(style_name, background=background, fieldbackground=background,
                    foreground=color(theme["CTkLabel"]["text_color"]), borderwidth=0,
                    rowheight=26, font=fonts[0])
    style.map(style_name, background=[("selected", color(theme["CTkButton"]["fg_color"]))],
              foreground=[("selected", color(theme["CTkButton"]["text_color"]))])
    style.layout(style_name, [("Treeview.treearea", {"sticky": "nswe"})])
    style.configure(f"{style_name}.Heading", background=color(theme["CTkFrame"]["top_fg_color"]),
                    foreground=color(theme["CTkLabel"]["text_color"]), relief="flat", borderwidth=0,
                    padding=(6, 4), font=fonts[1])
    style.map(f"{style_name}.Heading", background=[("active", color(theme["CTkFrame"]["border_color"]))])
    return fonts


class EmployeeWindow(ctk.CTk):  # type: ignore[misc]
    """The application window. Closing it stops the keeper's scheduler (which takes the
    shutdown backup) before the window goes away."""

    def __init__(
        self,
        con: sqlite3.Connection,
        keeper: sqlkeep.Keeper,
        on_configure: Callable[[dict[str, Any]], object] | None = None,
        after_restore: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self.con = con
        self.keeper = keeper
        self.after_restore = after_restore
        self.closed = False
        self.title(TITLE)
        self.minsize(1000, 640)
        self.protocol("WM_DELETE_WINDOW", self.close)

        self.tabs = ctk.CTkTabview(self)
        self.tabs.pack(fill="both", expand=True, padx=12, pady=(4, 12))
        self.editor = EmployeeEditor(self.tabs.add("Employees"), con, self._confirm)
        self.editor.pack(fill="both", expand=True)
        self.backups = BackupView(
            self.tabs.add("Backups"),
            keeper,
            on_restore=self._restored,
            on_configure=on_configure,
        )
        self.backups.pack(fill="both", expand=True)

    def _confirm(self, title: str, message: str) -> bool:
        return bool(messagebox.askyesno(title, message, parent=self))

    def _restored(self, safety: sqlkeep.Backup) -> None:
        # The restored file may be from before a migration: bring it up to date again.
        if self.after_restore is not None:
            self.after_restore()
        self.editor.reload()

    def close(self) -> None:
        self.closed = True
        self.keeper.stop()
        self.backups.destroy()
        self.destroy()
