"""What people see: number formatting, small-cell suppression, figures, pages and the index."""
