-- The threshold's comment names the platform's own domain document (docs/domain.md) since the documentation
-- moved into the repository; 0060 carries the same text for databases made from now on.
COMMENT ON FUNCTION analytics.small_cell_max() IS
    'Counts from 1 to this value are suppressed: 4 (docs/domain.md rule 5), or higher when the session sets kim.small_cell_max.';
