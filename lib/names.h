/*
 * lib/names.h - the names Strata gives to things from outside, checked in
 * one place: a tenant name is created by the tenant store and handed in by
 * plugins (the search service), and the two must agree.
 */
#ifndef STRATA_LIB_NAMES_H
#define STRATA_LIB_NAMES_H

/* Longest tenant name: it is a directory name, a metric label and a JSON
 * string as it is, so it stays short. */
#define TENANT_NAME_MAX 64

/* 1 for a tenant name: 1 to TENANT_NAME_MAX of [a-z0-9_-] (safe in paths,
 * labels and JSON without escaping). */
int tenant_name_ok(const char *s);

#endif /* STRATA_LIB_NAMES_H */
