/*
 * check.h's own test: a run that checks nothing must fail, or a test whose
 * checks were all skipped (or never reached) would pass. ctest runs this
 * program as c_check_kit_fails_a_run_without_checks and expects it to fail
 * (WILL_FAIL).
 */
#include "check.h"

int main(void)
{
    return check_summary();
}
