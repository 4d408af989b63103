"""Permit checklists (手续办理清单): each lead's approvals, who handles them and by when."""
