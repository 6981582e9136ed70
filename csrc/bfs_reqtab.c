#include "bfs_reqtab.h"

#include <stdlib.h>

#define SLOT_MASK 0xffffffffu

void bfs_reqtab_init(bfs_reqtab_t *tab)
{
    tab->slots = NULL;
    tab->cap = tab->free_head = tab->used = 0;
}

void bfs_reqtab_fini(bfs_reqtab_t *tab)
{
    free(tab->slots);
    bfs_reqtab_init(tab);
}

/* Doubles the slot array and threads the new slots onto the free list. */
static int grow(bfs_reqtab_t *tab)
{
    uint32_t old = tab->cap, cap = old ? old * 2 : 64;
    bfs_slot_t *slots;

    if (cap <= old)
        return -1;
    slots = realloc(tab->slots, (size_t)cap * sizeof(*slots));
    if (!slots)
        return -1;
    for (uint32_t i = old; i < cap; i++) {
        slots[i].obj = NULL;
        slots[i].gen = 0;
        slots[i].next_free = (i + 1 < cap) ? i + 2 : tab->free_head;
    }
    tab->slots = slots;
    tab->cap = cap;
    tab->free_head = old + 1;
    return 0;
}

uint64_t bfs_reqtab_add(bfs_reqtab_t *tab, void *obj)
{
    uint32_t idx;

    if (!tab->free_head && grow(tab) != 0)
        return 0;
    idx = tab->free_head - 1;
    tab->free_head = tab->slots[idx].next_free;
    tab->slots[idx].obj = obj;
    tab->used++;
    return ((uint64_t)tab->slots[idx].gen << 32) | (idx + 1);
}

static bfs_slot_t *lookup(const bfs_reqtab_t *tab, uint64_t id)
{
    uint32_t low = (uint32_t)(id & SLOT_MASK);
    bfs_slot_t *slot;

    if (low == 0 || low > tab->cap)
        return NULL;
    slot = &tab->slots[low - 1];
    if (!slot->obj || slot->gen != (uint32_t)(id >> 32))
        return NULL;
    return slot;
}

void *bfs_reqtab_get(const bfs_reqtab_t *tab, uint64_t id)
{
    bfs_slot_t *slot = lookup(tab, id);
    return slot ? slot->obj : NULL;
}

void *bfs_reqtab_remove(bfs_reqtab_t *tab, uint64_t id)
{
    bfs_slot_t *slot = lookup(tab, id);
    void *obj;

    if (!slot)
        return NULL;
    obj = slot->obj;
    slot->obj = NULL;
    slot->gen++;
    slot->next_free = tab->free_head;
    tab->free_head = (uint32_t)(slot - tab->slots) + 1;
    tab->used--;
    return obj;
}

void *bfs_reqtab_next(const bfs_reqtab_t *tab, uint32_t *cursor)
{
    while (*cursor < tab->cap) {
        void *obj = tab->slots[(*cursor)++].obj;
        if (obj)
            return obj;
    }
    return NULL;
}
