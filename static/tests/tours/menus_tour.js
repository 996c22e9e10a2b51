import { registry } from "@web/core/registry";

/**
 * Walk every Contact Centre menu the logged-in user sees, through the navbar as a user would:
 * each menu's action must render, and the first record of a list or kanban must open (its form,
 * or its row in an editable list), without an error dialog.
 *
 * The menus come from the server (tests/test_menus.py lists them from ir.ui.menu with the user's
 * rights) in the `cc_menus_tour` cookie, in navbar order: "xmlid" for a menu of the navbar itself,
 * "section>xmlid" for one in the navbar dropdown `section`, joined by "|".
 * Console errors (uncaught errors, failed RPCs) fail the tour on their own; the error dialogs are
 * checked here too.
 */

const COOKIE = "cc_menus_tour";
const ROOT_MENU = "contact_centre.contact_centre_menu_root";
// Marks the action nodes already checked: the next one to appear is the menu's (or record's) own.
const SEEN = "data-cc-menus-seen";
const NEW_ACTION = `.o_action_manager > .o_action:not([${SEEN}])`;

function menusToVisit() {
    const cookie = document.cookie.split("; ").find((item) => item.startsWith(`${COOKIE}=`));
    if (!cookie) {
        throw new Error(`The ${COOKIE} cookie (the menus to walk) is missing`);
    }
    return cookie
        .slice(COOKIE.length + 1)
        .split("|")
        .map((item) => {
            const [section, xmlid] = item.includes(">") ? item.split(">") : [false, item];
            return { section, xmlid };
        });
}

function failOnErrorDialog(where) {
    const dialog = document.querySelector(".o_error_dialog");
    if (dialog) {
        throw new Error(`${where}: error dialog: ${dialog.innerText}`);
    }
}

async function waitFor(selector, where, timeout = 10000) {
    const start = Date.now();
    for (;;) {
        failOnErrorDialog(where);
        const element = document.querySelector(selector);
        if (element) {
            return element;
        }
        if (Date.now() - start > timeout) {
            throw new Error(`${where}: "${selector}" did not appear within ${timeout / 1000} s`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

function markActionsSeen() {
    for (const action of document.querySelectorAll(".o_action_manager > .o_action")) {
        action.setAttribute(SEEN, "1");
    }
}

/** A cell that opens its record when clicked (not a drag handle, toggle, button or checkbox). */
function openingCell(row) {
    return [...row.querySelectorAll(".o_data_cell")].find(
        (cell) =>
            !cell.classList.contains("o_handle_cell") &&
            !cell.querySelector("input[type='checkbox'], button, .o_boolean_toggle")
    );
}

async function openFirstRecord(menu, action, helpers) {
    const where = `Menu ${menu.xmlid}`;
    // The view's control panel shows before its records are loaded: wait for its renderer.
    await waitFor(
        `.o_action_manager > .o_action[${SEEN}] :is(.o_list_renderer, .o_kanban_renderer, .o_form_renderer, .o_view_nocontent)`,
        where
    );
    if (action.classList.contains("o_list_view")) {
        let row = action.querySelector(".o_data_row");
        const group = action.querySelector(".o_group_header");
        if (!row && group) {
            await helpers.click(group);
            row = await waitFor(`.o_action_manager > .o_action[${SEEN}] .o_data_row`, where);
        }
        if (!row) {
            console.log(`${where}: no record`);
            return;
        }
        const cell = openingCell(row);
        if (!cell) {
            throw new Error(`${where}: no cell of the first row opens it`);
        }
        await helpers.click(cell);
        // A list opens the record's form; an editable list edits the row in place, unless the
        // user may not write (then, with no form view, the click does nothing).
        const opened = await waitFor(
            `${NEW_ACTION}.o_form_view .o_form_renderer, .o_data_row.o_selected_row`,
            where,
            3000
        ).catch(() => null);
        if (!opened) {
            if (document.querySelector(NEW_ACTION)) {
                await waitFor(`${NEW_ACTION}.o_form_view .o_form_renderer`, where);
            } else {
                failOnErrorDialog(where);
                console.log(`${where}: read-only row`);
                return;
            }
        }
    } else if (action.classList.contains("o_kanban_view")) {
        const card = action.querySelector(".o_kanban_record:not(.o_kanban_ghost):not(.o-kanban-button-new)");
        if (!card) {
            console.log(`${where}: no record`);
            return;
        }
        await helpers.click(card);
        await waitFor(`${NEW_ACTION}.o_form_view .o_form_renderer`, where);
    } else {
        failOnErrorDialog(where);
        console.log(`${where}: rendered`);
        return;
    }
    failOnErrorDialog(where);
    console.log(`${where}: first record opened`);
}

function menuSteps(menu) {
    const steps = [
        {
            content: `Before ${menu.xmlid}: mark the current screen as seen`,
            trigger: ".o_action_manager > .o_action",
            run() {
                failOnErrorDialog(`Before menu ${menu.xmlid}`);
                markActionsSeen();
            },
        },
    ];
    if (menu.section) {
        steps.push({
            content: `Open the menu that holds ${menu.xmlid}`,
            trigger: `.o_menu_sections button[data-menu-xmlid='${menu.section}']`,
            run: "click",
        });
        steps.push({
            content: `Menu ${menu.xmlid}`,
            trigger: `.o-dropdown--menu .dropdown-item[data-menu-xmlid='${menu.xmlid}']`,
            run: "click",
        });
    } else {
        steps.push({
            content: `Menu ${menu.xmlid}`,
            trigger: `.o_menu_sections .o_nav_entry[data-menu-xmlid='${menu.xmlid}']`,
            run: "click",
        });
    }
    steps.push({
        content: `${menu.xmlid} renders; the first record of its list or kanban opens`,
        trigger: NEW_ACTION,
        timeout: 30000,
        async run(helpers) {
            const action = this.anchor;
            markActionsSeen();
            if (!action.classList.contains("o_view_controller")) {
                // A client action (the inbox): it renders.
                failOnErrorDialog(`Menu ${menu.xmlid}`);
                if (!action.children.length) {
                    throw new Error(`Menu ${menu.xmlid}: the client action rendered nothing`);
                }
                console.log(`Menu ${menu.xmlid}: rendered`);
                return;
            }
            await openFirstRecord(menu, action, helpers);
        },
    });
    return steps;
}

registry.category("web_tour.tours").add("contact_centre_menus", {
    steps: () => [
        {
            content: "Open the apps menu",
            trigger: ".o_navbar_apps_menu button",
            run: "click",
        },
        {
            content: "Open the Contact Centre app",
            trigger: `.o-dropdown--menu .dropdown-item[data-menu-xmlid='${ROOT_MENU}']`,
            run: "click",
        },
        {
            content: "The app is open",
            trigger: `.o_menu_brand[data-menu-xmlid='${ROOT_MENU}']`,
        },
        ...menusToVisit().flatMap(menuSteps),
        {
            content: "No error dialog at the end",
            trigger: ".o_action_manager > .o_action",
            run() {
                failOnErrorDialog("End of the tour");
            },
        },
    ],
});
