/* fixture: a fixed dbfront schema for the schema and wal fuzz targets: three tables with a
 * column of every type dbf_row_check knows (signed and unsigned integers, float, decimal,
 * varchar, text, varbinary, date, datetime, time, json), NOT NULL columns with and without
 * defaults, an incr table with an fk. */
#ifndef FF_FUZZ_FIXTURE_H
#define FF_FUZZ_FIXTURE_H

#include "schema.h"

/* The schema, built on the first call and kept for the process; aborts if it cannot be. */
const dbf_schema_t *fuzz_schema(void);

#endif
