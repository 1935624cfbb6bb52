/* console: `bot --console`, an interactive prompt on stdin driving runs in this process:
 * set NAME VALUE, show, run, stop, status, report, help, quit (or end of input). */
#ifndef BOT_CONSOLE_H
#define BOT_CONSOLE_H

#include "opts.h"

/* Runs the console until quit or end of input, starting from options `o`. Returns the exit
 * status: 1 when the last run had errors, else 0. */
int bot_console_main(const bot_opts_t *o);

#endif
