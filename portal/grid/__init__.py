"""The grid worker's pages: today's visits in their grids, and a contact recorded in one tap."""
