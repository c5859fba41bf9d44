# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cyrus IMAP 3.6.1 mailbox distribution, as a pure Python engine (work in progress)."""

SELECT_MODES = (
    "random",
    "freespace-most",
    "freespace-percent-most",
    "freespace-percent-weighted",
    "freespace-percent-weighted-delta",
)
DEFAULT_MODE = "freespace-most"
