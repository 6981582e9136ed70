#include "bfs_map.h"

#include <errno.h>
#include <stdlib.h>

/* splitmix64 finaliser: inode numbers and pointers are far from uniform. */
static uint32_t hash64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (uint32_t)x;
}

void bfs_map_init(bfs_map_t *map)
{
    map->slots = NULL;
    map->mask = 0;
    map->count = 0;
}

void bfs_map_fini(bfs_map_t *map)
{
    free(map->slots);
    bfs_map_init(map);
}

static bfs_map_entry_t *find(const bfs_map_t *map, uint64_t key)
{
    if (!map->slots)
        return NULL;
    for (uint32_t i = hash64(key) & map->mask;; i = (i + 1) & map->mask) {
        bfs_map_entry_t *e = &map->slots[i];
        if (!e->val)
            return NULL;
        if (e->key == key)
            return e;
    }
}

void *bfs_map_get(const bfs_map_t *map, uint64_t key)
{
    bfs_map_entry_t *e = find(map, key);
    return e ? e->val : NULL;
}

static void insert_new(bfs_map_t *map, uint64_t key, void *val)
{
    uint32_t i = hash64(key) & map->mask;

    while (map->slots[i].val)
        i = (i + 1) & map->mask;
    map->slots[i].key = key;
    map->slots[i].val = val;
    map->count++;
}

/* Keeps the load factor at or below one half. */
static int grow(bfs_map_t *map)
{
    uint32_t old_cap = map->slots ? map->mask + 1 : 0;
    uint32_t cap = old_cap ? old_cap * 2 : 64;
    bfs_map_entry_t *old = map->slots;

    map->slots = calloc(cap, sizeof(*map->slots));
    if (!map->slots) {
        map->slots = old;
        return -ENOMEM;
    }
    map->mask = cap - 1;
    map->count = 0;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i].val)
            insert_new(map, old[i].key, old[i].val);
    free(old);
    return 0;
}

int bfs_map_put(bfs_map_t *map, uint64_t key, void *val)
{
    bfs_map_entry_t *e = find(map, key);

    if (e) {
        e->val = val;
        return 0;
    }
    if (!map->slots || (map->count + 1) * 2 > map->mask + 1) {
        if (grow(map) != 0)
            return -ENOMEM;
    }
    insert_new(map, key, val);
    return 0;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
void *bfs_map_remove(bfs_map_t *map, uint64_t key)
{
    bfs_map_entry_t *e = find(map, key);
    uint32_t hole, j;
    void *val;

    if (!e)
        return NULL;
    val = e->val;
    hole = (uint32_t)(e - map->slots);
    for (j = (hole + 1) & map->mask; map->slots[j].val; j = (j + 1) & map->mask) {
        uint32_t home = hash64(map->slots[j].key) & map->mask;
        /* Move j into the hole unless its home lies cyclically in (hole, j]. */
        int home_between = (hole <= j) ? (hole < home && home <= j)
                                       : (hole < home || home <= j);
        if (!home_between) {
            map->slots[hole] = map->slots[j];
            hole = j;
        }
    }
    map->slots[hole].val = NULL;
    map->count--;
    return val;
}
