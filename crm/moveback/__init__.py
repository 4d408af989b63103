"""申请退回: an officer asks the unit's head to move a lead back a stage; the head (or an admin)
approves, which moves it through ``crm.leads.services.move_stage``, or refuses."""
