/* tapp2: tapp rebuilt with another version number, standing in for a rebuilt app in the
 * /reload tests. */
#define TAPP_VERSION 2
#include "../tapp/tapp.c"
